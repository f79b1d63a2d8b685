"""Training, sampling and scoring on graphs without chemistry (data.kind: graphs)."""

import json
import shutil
import subprocess
import sys
from collections import Counter

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from typer.testing import CliRunner

from molgen.cli import app
from molgen.config import ConfigError, load_config
from molgen.data.graphs import (
    GraphVocabulary,
    community_sizes,
    dense_to_graphs,
    graph6_line,
    planar_graphs,
    read_graphs,
    to_dense,
)
from molgen.models import Generator, GraphGenerator
from molgen.models.graph_generator import INITIAL_DISTANCE_WEIGHT
from molgen.training.graphs import load_graph_data

runner = CliRunner()

#: A tiny graph run: small nets, a few steps, every sample a tree-connected graph of degree <= 4.
TINY = [
    "data.name=null",
    "data.kind=graphs",
    "generator.z_dim=8",
    "generator.hidden=[16]",
    "generator.constraint=valence_connected",
    "generator.connect=tree",
    "generator.max_degree=4",
    "discriminator.conv_dims=[8]",
    "discriminator.aggregate_dim=8",
    "discriminator.mlp_dims=[8]",
    "discriminator.structure_features=true",
    "discriminator.spectral_features=3",
    "gan.n_critic=1",
    "train.steps=4",
    "train.batch_size=4",
    "train.eval_every=2",
    "train.n_eval=6",
    "train.checkpoint_every=2",
    "train.threads=1",
    "train.ema_decay=0.9",
    "logging.wandb.mode=disabled",
]


def _graph_folder(folder):
    """20 small planar graphs of 5 to 8 nodes, one edge list each (sizes cycle)."""
    folder.mkdir()
    for i in range(20):
        graph = planar_graphs(1, n_nodes=5 + i % 4, seed=i)[0]
        lines = [f"{u} {v}" for u, v in graph.edges()]
        (folder / f"g{i:02d}.edgelist").write_text("\n".join(lines) + "\n")
    return folder


# ------------------------------------------------------------------------- end to end


_NO_RDKIT = """
import json, sys
from molgen.cli import app
folder, run, out = sys.argv[1:4]
overrides = json.loads(sys.argv[4])
for args in (
    ["train", "configs/planar.yaml", *overrides, f"data.path={folder}", "--out", run,
     "--no-progress"],
    ["sample", run, "-n", "12", "-o", out],
    ["evaluate", "--graphs", out, "--reference", f"{run}/test.g6", "--train",
     f"{run}/train.g6", "-o", f"{run}/report.json"],
):
    try:
        app(args, standalone_mode=False)
    except SystemExit as exit:
        assert not exit.code, (args, exit.code)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "rdkit")))
"""


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory):
    """A tiny graph run trained, sampled and evaluated through the CLI in a fresh process;
    returns its folders and the RDKit modules that process imported."""
    root = tmp_path_factory.mktemp("graph_run")
    folder = _graph_folder(root / "graphs")
    run, out = root / "run", root / "samples.g6"
    done = subprocess.run(
        [sys.executable, "-c", _NO_RDKIT, str(folder), str(run), str(out), json.dumps(TINY)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, run, out, json.loads(done.stdout.strip().splitlines()[-1])


def test_the_graph_path_imports_no_rdkit(graph_run):
    *_, rdkit_modules = graph_run
    assert rdkit_modules == []


def test_a_tiny_graph_run_trains_samples_and_scores(graph_run):
    folder, run, out, _ = graph_run
    training = read_graphs(folder)
    for name in ("checkpoint.pt", "config.yaml", "train.g6", "val.g6", "test.g6", "curves.png"):
        assert (run / name).is_file(), name
    # the splits are the folder's graphs, SPECTRE's 20% test and 80% of the rest for training
    splits = {s: read_graphs(run / f"{s}.g6") for s in ("train", "val", "test")}
    assert [len(g) for g in splits.values()] == [13, 3, 4]
    assert Counter(g.number_of_edges() for graphs in splits.values() for g in graphs) == Counter(
        g.number_of_edges() for g in training
    )
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/degree_mmd" in r]
    assert [r["step"] for r in evals] == [2, 4]
    for key in ("degree", "clustering", "orbit", "spectral"):
        assert all(np.isfinite(r[f"eval/{key}_mmd"]) and r[f"eval/{key}_mmd"] >= 0 for r in evals)
    assert (run / "samples" / "step0000004.g6").is_file()
    samples = read_graphs(out)
    assert len(samples) == 12
    sizes = {g.number_of_nodes() for g in splits["train"]}
    for graph in samples:
        assert graph.number_of_nodes() in sizes  # the node-count law's support
        assert nx.is_connected(graph)  # connect=tree
        assert max(d for _, d in graph.degree()) <= 4  # max_degree
    report = json.loads((run / "report.json").read_text())
    assert report["n_samples"] == 12 and report["reference_size"] == 4
    assert 0 <= report["uniqueness"] <= 1 and report["degree_mmd"] >= 0


def test_a_graph_run_resumes_and_its_training_graphs_are_checked(graph_run, tmp_path):
    from molgen.training import load_run, train

    folder, run, *_ = graph_run
    loaded = load_run(run)
    assert isinstance(loaded.vocab, GraphVocabulary)
    assert loaded.train_smiles == (run / "train.g6").read_text().splitlines()
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    cfg = load_config("configs/planar.yaml", [*TINY, f"data.path={folder}", "train.steps=6"])
    metrics = train(cfg, copy, resume=True, progress=False)
    assert "eval/degree_mmd" not in metrics and "degree_mmd" in metrics
    state = torch.load(copy / "checkpoint.pt", weights_only=True)
    assert state["step"] == 6
    (copy / "train.g6").write_text(graph6_line(nx.path_graph(3)) + "\n")
    with pytest.raises(Exception, match="train.g6"):
        load_run(copy)


def test_sampling_a_graph_run_writes_graph6_only(graph_run, tmp_path):
    _, run, *_ = graph_run
    result = runner.invoke(app, ["sample", str(run), "-n", "3", "-o", str(tmp_path / "s.smi")])
    assert result.exit_code == 2 and ".g6" in result.output
    assert not (tmp_path / "s.smi").exists()
    image = ["-o", str(tmp_path / "s.g6"), "--image", str(tmp_path / "s.png")]
    result = runner.invoke(app, ["sample", str(run), "-n", "3", *image])
    assert result.exit_code == 2 and "--image" in result.output


def test_sampling_a_graph_run_counts_graphs(graph_run, tmp_path):
    _, run, *_ = graph_run
    result = runner.invoke(app, ["sample", str(run), "-n", "5", "-o", str(tmp_path / "s.g6")])
    assert result.exit_code == 0, result.output
    # the progress bar's last state (tqdm redraws it after a carriage return)
    bars = [line for line in result.output.splitlines() if "sampling" in line]
    assert "5/5" in bars[-1] and "graph/s" in bars[-1]
    assert not any("mol" in bar for bar in bars)


# --------------------------------------------------------------------- the node-count law


def test_sampled_node_counts_follow_the_training_histogram():
    cfg = load_config(None, ["data.name=planar", "generator.hidden=[8]", "generator.z_dim=4"])
    counts = [0, 0, 3, 0, 7, 1, 9]  # n = 0..6 nodes
    generator = GraphGenerator(cfg.generator, 6, counts)
    rng = torch.Generator().manual_seed(0)
    draws = 20_000
    x, adj = generator(generator.sample_noise(draws, generator=rng), generator=rng)
    present = x.argmax(-1)  # [B, N]
    n = present.sum(1)
    # nodes 0..n-1 present, the rest absent, and no edge at an absent node
    assert torch.equal(present, (torch.arange(6) < n[:, None]).long())
    edges = adj.argmax(-1)
    assert not edges[~present.bool()].any() and not edges.transpose(1, 2)[~present.bool()].any()
    observed = torch.bincount(n, minlength=7).numpy()
    assert observed[[0, 1, 3]].sum() == 0  # counts no training graph has are never drawn
    support = [2, 4, 5, 6]
    expected = np.array(counts)[support] / sum(counts) * draws
    assert chisquare(observed[support], expected).pvalue > 1e-3


def test_the_vocabulary_holds_the_training_splits_node_counts(tmp_path):
    from molgen.training.graphs import load_graph_data

    folder = _graph_folder(tmp_path / "graphs")
    cfg = load_config(None, ["data.name=null", "data.kind=graphs", f"data.path={folder}"])
    dataset = load_graph_data(cfg.data)
    vocab = dataset.vocab
    sizes = Counter(g.number_of_nodes() for g in dataset.train.graphs)
    assert vocab.max_nodes == 8
    assert vocab.node_counts == tuple(sizes.get(n, 0) for n in range(9))
    pairs = [g.number_of_nodes() * (g.number_of_nodes() - 1) / 2 for g in dataset.train.graphs]
    edges = [g.number_of_edges() for g in dataset.train.graphs]
    assert vocab.edge_density == pytest.approx(np.mean(np.divide(edges, pairs)))
    assert GraphVocabulary.from_dict(vocab.to_dict()) == vocab
    assert (vocab.num_atom_types, vocab.num_bond_types) == (2, 2)


def test_an_untrained_generator_draws_the_datas_edge_density():
    cfg = load_config(None, ["data.name=planar", "generator.hidden=[8]", "generator.z_dim=4"])
    rng = torch.Generator().manual_seed(0)
    for density in (0.05, 0.3):
        generator = GraphGenerator(cfg.generator, 12, [0] * 12 + [1], edge_density=density)
        _, adj = generator(generator.sample_noise(500, generator=rng), generator=rng)
        pairs = torch.triu_indices(12, 12, 1)
        edges = adj.argmax(-1)[:, pairs[0], pairs[1]].float()  # 500 x 66 pairs
        # the weights add little to the bias at the start: the density drawn is the prior's
        assert edges.mean().item() == pytest.approx(density, abs=0.02)


def test_a_non_crossing_generator_draws_planar_connected_graphs_from_its_layout():
    overrides = [
        "data.name=planar",
        "generator.hidden=[8]",
        "generator.z_dim=4",
        "generator.constraint=valence_connected",
        "generator.connect=join",
    ]
    counts = [0] * 8 + [1] * 5
    cfg = load_config(None, [*overrides, "generator.non_crossing=true"])
    plain = GraphGenerator(load_config(None, overrides).generator, 12, counts, max_degree=12)
    generator = GraphGenerator(cfg.generator, 12, counts, max_degree=12)
    rng = torch.Generator().manual_seed(0)
    z = generator.sample_noise(64, generator=rng)
    (x, adj), _, logits = generator(z, generator=rng, return_logits=True)
    h = generator.features(z)
    positions = generator.node_positions(h)
    assert positions.shape == (64, 12, 2) and plain.node_positions(h) is None
    # the edge logit falls with the squared distance, relative to its mean over the pairs
    rows, cols = torch.triu_indices(12, 12, 1)
    squared = (positions[:, rows] - positions[:, cols]).pow(2).sum(-1)
    plain_logits = Generator.bond_logits(generator, h)  # without the distance term
    fall = plain_logits[..., 1] - logits[..., 1]
    relative = squared / squared.mean(-1, keepdim=True) - 1
    assert torch.allclose(fall, INITIAL_DISTANCE_WEIGHT * relative, atol=1e-4)
    assert torch.allclose(logits[..., 0], plain_logits[..., 0])
    edges = adj.argmax(-1)
    for b in range(64):
        present = x[b].argmax(-1).nonzero().flatten().tolist()
        graph = nx.from_numpy_array(edges[b].numpy()).subgraph(present)
        assert nx.check_planarity(graph)[0] and nx.is_connected(graph)
    # score order: a pair waits for the 3N - 6 likeliest pairs that cross it
    ordered = load_config(
        None, [*overrides, "generator.non_crossing=true", "generator.non_crossing_order=score"]
    )
    scored = GraphGenerator(ordered.generator, 12, counts, max_degree=12)
    assert generator.bond_sampler.crossing_rivals is None
    assert scored.bond_sampler.crossing_rivals == 30
    x2, adj2 = scored(z, generator=rng)
    for b in range(64):
        present = x2[b].argmax(-1).nonzero().flatten().tolist()
        graph = nx.from_numpy_array(adj2[b].argmax(-1).numpy()).subgraph(present)
        assert nx.check_planarity(graph)[0] and nx.is_connected(graph)
    # the critic's gradient reaches the layout through the distance term
    (adj[..., 1] * torch.randn(adj.shape[:-1])).sum().backward()
    assert generator.position_head.weight.grad.abs().sum() > 0
    assert generator.distance_weight.grad is not None


@pytest.mark.parametrize("size", ["35", "data"])
def test_a_community_run_trains_resumes_and_samples(tmp_path, size):
    from molgen.training import load_run, train

    folder = _graph_folder(tmp_path / "graphs")
    overrides = [
        *TINY,
        f"data.path={folder}",
        "generator.communities=2",
        f"generator.community_size={size}",
    ]
    cfg = load_config("configs/sbm.yaml", overrides)
    train(cfg, tmp_path / "run", progress=False)
    loaded = load_run(tmp_path / "run")
    assert loaded.generator.community_head is not None  # the checkpoint's config holds the key
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert "community_head.weight" in state["generator"]
    if size == "data":  # the training graphs' splits, saved with the weights
        fitted = load_run(tmp_path / "run").generator
        fitted.fit_communities([community_sizes(g) for g in load_graph_data(cfg.data).train.graphs])
        assert torch.equal(loaded.generator.community_shares, fitted.community_shares)
        assert bool((fitted.community_shares.sum(-1) > 0.99).all())
    longer = load_config("configs/sbm.yaml", [*overrides, "train.steps=6"])
    train(longer, tmp_path / "run", resume=True, progress=False)
    result = runner.invoke(
        app, ["sample", str(tmp_path / "run"), "-n", "6", "-o", str(tmp_path / "s.g6")]
    )
    assert result.exit_code == 0, result.output
    for graph in read_graphs(tmp_path / "s.g6"):
        assert nx.is_connected(graph) and max(d for _, d in graph.degree()) <= 4


def test_node_presence_logits_are_the_laws_marginals():
    cfg = load_config(None, ["data.name=planar", "generator.hidden=[8]", "generator.z_dim=4"])
    generator = GraphGenerator(cfg.generator, 3, [0, 1, 1, 2])
    logits = generator.atom_logits(torch.zeros(2, 8))
    # P(node i present) = P(n > i): 1, 3/4, 1/2
    assert torch.allclose(logits.softmax(-1)[0, :, 1], torch.tensor([1.0, 0.75, 0.5]))


def test_dense_graphs_round_trip_through_networkx():
    graphs = [nx.gnp_random_graph(k, 0.5, seed=k) for k in (1, 4, 7)]
    dense = to_dense(graphs, max_nodes=9)
    back = dense_to_graphs(dense.x, dense.adj)
    for graph, again in zip(graphs, back, strict=True):
        assert sorted(again.nodes) == sorted(graph.nodes)
        assert {frozenset(e) for e in again.edges} == {frozenset(e) for e in graph.edges}
        assert nx.from_graph6_bytes(graph6_line(graph).encode()).edges == graph.edges


# ------------------------------------------------------------------------ config errors


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["generator.max_degree=4", "generator.constraint=valence"], "generator.max_degree"),
        (["data.name=planar", "gan.rl_weight=0.5"], "gan.rl_weight"),
        (["data.name=planar", "data.smiles_column=smiles"], "data.smiles_column"),
        (["data.name=planar", "data.kind=molecules"], "data.kind"),
        (["data.name=qm9", "data.kind=graphs"], "data.kind"),
        (["data.name=planar", "generator.bond_head=pairwise"], "generator.bond_head"),
        (["data.name=planar", "generator.max_degree=3"], "generator.max_degree"),
        (
            [
                "data.name=planar",
                "generator.constraint=valence_connected",
                "generator.connect=tree",
                "generator.max_degree=1",
            ],
            "generator.max_degree",
        ),
        (["generator.non_crossing=true"], "generator.non_crossing"),
        (
            ["data.name=planar", "generator.non_crossing=true", "generator.constraint=none"],
            "generator.non_crossing",
        ),
        (
            ["data.name=planar", "generator.non_crossing_order=score"],
            "generator.non_crossing_order",
        ),
        (["data.name=planar", "generator.node_spacing=0.8"], "generator.node_spacing"),
        (["generator.communities=3"], "generator.communities"),
        (["data.name=sbm", "generator.communities=1"], "generator.communities"),
        (["data.name=sbm", "generator.community_size=30"], "generator.community_size"),
        (
            ["data.name=sbm", "generator.communities=3", "generator.community_size=0"],
            "generator.community_size",
        ),
        (
            ["data.name=sbm", "generator.communities=3", "generator.community_size=louvain"],
            "generator.community_size",
        ),
        (["discriminator.spectral_features=-1"], "discriminator.spectral_features"),
        (["data.name=planar", "train.keep_best=fcd"], "train.keep_best"),
        (["train.keep_best=degree_mmd"], "train.keep_best"),
    ],
)
def test_config_errors_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, overrides)


def test_a_graph_folder_is_a_data_path_for_graphs_only(tmp_path):
    folder = _graph_folder(tmp_path / "graphs")
    with pytest.raises(ConfigError, match=r"data\.path: .* is a directory"):
        load_config(None, ["data.name=null", f"data.path={folder}"])
    cfg = load_config(None, ["data.name=null", "data.kind=graphs", f"data.path={folder}"])
    assert cfg.data.graphs and cfg.data.path == folder
    assert load_config("configs/planar.yaml").data.graphs
    assert not load_config("configs/debug.yaml").data.graphs


def test_evaluating_a_graph_run_as_molecules_says_to_use_graphs(graph_run, tmp_path):
    _, run, *_ = graph_run
    result = runner.invoke(app, ["evaluate", str(run), "-o", str(tmp_path / "report.json")])
    assert result.exit_code == 2 and "--graphs" in result.output
    assert not (tmp_path / "report.json").exists()
