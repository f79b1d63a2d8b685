"""`molgen evaluate --benchmark` as a choice of the benchmark registry, and every command that
needs the MOSES wheel failing without it as a user error (exit 2) with the install command."""

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from molgen.choices import BENCHMARK_NAMES
from molgen.cli import BenchmarkName, app
from molgen.metrics import BENCHMARKS, MOLGEN, get_benchmark

runner = CliRunner()
INSTALL = "pip install --no-deps molsets==0.3.1"


def _text(result) -> str:
    """The command's output as one line of words, without the frame the error box draws."""
    return " ".join(result.output.replace("│", " ").split())


def test_the_choices_are_the_registry():
    assert tuple(BENCHMARKS) == BENCHMARK_NAMES and BENCHMARK_NAMES[0] == MOLGEN.name  # default
    assert [name.value for name in BenchmarkName] == list(BENCHMARK_NAMES)
    assert all(BENCHMARKS[name].name == name for name in BENCHMARKS)
    result = runner.invoke(
        app, ["evaluate", "--help"], env={"COLUMNS": "200"}
    )  # no wrap inside the names
    assert result.exit_code == 0
    assert "|".join(BENCHMARKS) in _text(result)  # the valid names, in --help


def test_an_unknown_benchmark_exits_2_with_the_choices(tmp_path):
    generated = tmp_path / "gen.smi"
    generated.write_text("CCO\n")
    result = runner.invoke(
        app, ["evaluate", str(generated), "--benchmark", "mosses"], terminal_width=200
    )
    assert result.exit_code == 2
    assert "'mosses' is not one of 'molgen', 'moses', 'gdss'" in _text(result)
    with pytest.raises(ValueError, match=r"unknown 'mosses'; known: \['molgen', 'moses', 'gdss'\]"):
        get_benchmark("mosses")


def test_a_reference_option_of_another_benchmark_exits_2(tmp_path):
    generated = tmp_path / "gen.smi"
    generated.write_text("CCO\n")
    args = ["evaluate", str(generated), "--benchmark", "moses", "--reference", str(generated)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    message = "--reference needs --benchmark molgen; --benchmark moses takes --test"
    assert message in _text(result)


@pytest.fixture
def no_molsets(monkeypatch):
    """The molsets wheel uninstalled, as its locator sees it (every other package stays)."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "moses" else find_spec(name, *args),
    )


def test_training_on_moses_without_the_wheel_exits_2_with_the_install_command(tmp_path, no_molsets):
    args = ["train", "configs/moses_atoms.yaml", f"data.cache_dir={tmp_path / 'cache'}"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert INSTALL in _text(result) and "molsets wheel, which is not installed" in _text(result)
    assert "internal error" not in result.output


def test_the_moses_benchmark_without_the_wheel_exits_2_with_the_same_message(tmp_path, no_molsets):
    generated = tmp_path / "gen.smi"
    generated.write_text("CCO\nc1ccccc1O\n")
    out = tmp_path / "report.json"
    args = ["evaluate", str(generated), "--benchmark", "moses", "-o", str(out), "--no-progress"]
    result = runner.invoke(app, [*args, "-j", "1", "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2, result.output
    assert INSTALL in _text(result) and "molsets wheel, which is not installed" in _text(result)
    assert not out.exists()


def test_both_benchmarks_write_their_own_report_head(tmp_path):
    if importlib.util.find_spec("moses") is None:
        pytest.skip("molsets wheel not installed")  # Filters reads MOSES' SMARTS lists
    generated = tmp_path / "gen.smi"
    generated.write_text("CCO\nOCC\nCC.O\nc1ccccc1O\n")
    reference = tmp_path / "ref.smi"
    reference.write_text("CCO\nCCN\nc1ccccc1\n")
    heads = {}
    for name, options in (
        ("molgen", ["--reference", str(reference), "-m", "validity"]),
        ("moses", [f"--{key}" for key in ("test", "test-scaffolds", "train")]),
    ):
        if name == "moses":
            options = [arg for key in options for arg in (key, str(reference))]
            options += ["-m", "valid", "-m", "Novelty"]
        out = tmp_path / name / "report.json"
        args = ["evaluate", str(generated), "--benchmark", name, "-o", str(out)]
        args += ["--no-progress", "-j", "1", "--cache-dir", str(tmp_path / "cache"), *options]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        heads[name] = out.with_suffix(".md").read_text().split("\n| metric |")[0]
        assert json.loads(out.read_text())["n_samples"] == 4
    assert heads["molgen"] == (
        "# molgen evaluation\n\n4 samples, 3 strict-valid, 4 sanitizable, 2 distinct valid; "
        "reference: 3.\n"
    )
    assert heads["moses"].startswith(
        "# molgen evaluation (MOSES benchmark)\n\n4 samples, 4 valid (MOSES: sanitizable, "
        "fragments allowed), 3 distinct valid.\n\n## MOSES table\n"
    )
    assert "| this run | 1.0000 |" in heads["moses"]


def test_the_gdss_benchmark_reports_its_keys_with_fragments_allowed(tmp_path):
    from molgen.chem.labelled import labelled_graphs
    from molgen.metrics import fcd_available
    from molgen.metrics.nspdk import nspdk_mmd

    generated = tmp_path / "gen.smi"
    generated.write_text("CCO\nOCC\nCC.O\nc1ccccc1O\nC(C)(C)(C)(C)C\n\n")
    test, train = tmp_path / "test.smi", tmp_path / "train.smi"
    test.write_text("CCN\nCCO\nc1ccccc1\nCC#N\n")
    train.write_text("OCC\nCCCC\n")
    out = tmp_path / "report.json"
    args = ["evaluate", str(generated), "--benchmark", "gdss", "-o", str(out), "--no-progress"]
    args += ["-j", "1", "--cache-dir", str(tmp_path / "cache"), "--test", str(test)]
    result = runner.invoke(app, [*args, "--train", str(train)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    keys = ["validity_wo_correction", "nspdk", "fcd", "uniqueness", "novelty"]
    if not fcd_available():  # the fcd extra: FCD is left out with a note
        keys.remove("fcd")
    assert [key for key in report if key in keys or key in MOLGEN.names] == keys
    # 6 lines: 4 sanitize (CC.O too), the pentavalent carbon and the empty line do not
    assert report["validity_wo_correction"] == pytest.approx(4 / 6)
    assert report["uniqueness"] == pytest.approx(3 / 4)  # CCO twice
    assert report["novelty"] == pytest.approx(2 / 3)  # CCO is OCC of the training set
    valid, reference = ["CCO", "CCO", "CC.O", "Oc1ccccc1"], ["CCN", "CCO", "c1ccccc1", "CC#N"]
    want = nspdk_mmd(labelled_graphs(valid), labelled_graphs(reference))
    assert report["nspdk"] == pytest.approx(want, abs=1e-12)
    assert report.get("fcd", 1.0) > 0
    head = "# molgen evaluation (GDSS protocol)\n\n6 samples, 4 valid (sanitizable, fragments "
    assert out.with_suffix(".md").read_text().startswith(head + "allowed), 3 distinct valid.\n")
    without_test = runner.invoke(app, [*args[:-2], "--train", str(train)])
    assert without_test.exit_code == 0, without_test.output
    assert {"nspdk", "fcd"}.isdisjoint(json.loads(out.read_text()))
