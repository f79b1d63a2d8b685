import json

import networkx as nx
import pytest
from typer.testing import CliRunner

from molgen.cli import app
from molgen.data.graphs import planar_graphs
from molgen.metrics.graphs import evaluate_graphs

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Generated graphs in one graph6 file (two repeated, one a training graph), reference
    graphs as a folder of edge lists, training graphs as GraphML files."""
    root = tmp_path_factory.mktemp("graphs")
    graphs = planar_graphs(14, n_nodes=16, seed=1)
    generated, reference, train = graphs[:6], graphs[6:10], graphs[10:]
    generated = [*generated, generated[0], generated[1], train[0], nx.path_graph(16)]
    (root / "gen.g6").write_bytes(b"".join(nx.to_graph6_bytes(g, header=False) for g in generated))
    (root / "ref").mkdir()
    for i, graph in enumerate(reference):
        nx.write_edgelist(graph, root / "ref" / f"{i}.edgelist", data=False)
    (root / "train").mkdir()
    for i, graph in enumerate(train):
        nx.write_graphml(graph, root / "train" / f"{i}.graphml")
    return root, generated, reference, train


def test_evaluate_graphs_writes_the_report(files, tmp_path):
    root, generated, reference, train = files
    out = tmp_path / "report.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--graphs",
            str(root / "gen.g6"),
            "--reference",
            str(root / "ref"),
            "--train",
            str(root / "train"),
            "--graph-benchmark",
            "planar",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    expected = evaluate_graphs(generated, reference, train, benchmark="planar").metrics
    for key, value in expected.items():
        assert report[key] == pytest.approx(value, abs=1e-12), key
    assert report["uniqueness"] == 8 / 10 and report["novelty"] == 9 / 10
    assert report["validity"] == 10 / 10 and report["vun"] == 7 / 10
    assert (report["n_samples"], report["reference_size"], report["train_size"]) == (10, 4, 4)
    assert set(report["definitions"]) == set(expected)
    markdown = out.with_suffix(".md").read_text()
    assert "| vun | 0.7 |" in markdown and "(planar)" in markdown
    assert "vun" in result.output


def test_evaluate_graphs_errors_exit_2(files, tmp_path):
    root = files[0]
    missing = runner.invoke(app, ["evaluate", "--graphs", str(root / "gen.g6")])
    assert missing.exit_code == 2 and "--reference" in missing.output
    both = runner.invoke(app, ["evaluate", "x.smi", "--graphs", str(root / "gen.g6")])
    assert both.exit_code == 2 and "not both" in both.output
    bad = tmp_path / "bad.g6"
    bad.write_bytes(b"~~~\n")
    broken = runner.invoke(
        app, ["evaluate", "--graphs", str(bad), "--reference", str(root / "ref")]
    )
    assert broken.exit_code == 2 and "bad.g6:1" in broken.output
    unknown = runner.invoke(
        app,
        ["evaluate", "--graphs", str(root / "gen.g6"), "-r", str(root / "ref")]
        + ["--graph-benchmark", "grid", "-o", str(tmp_path / "r.json")],
    )
    assert unknown.exit_code == 2 and "grid" in unknown.output
    assert not (tmp_path / "r.json").exists()
    stray = runner.invoke(app, ["evaluate", "x.smi", "--graph-kernel", "tv"])
    assert stray.exit_code == 2 and "need --graphs" in stray.output
    nothing = runner.invoke(app, ["evaluate"])
    assert nothing.exit_code == 2 and "GENERATED" in nothing.output
