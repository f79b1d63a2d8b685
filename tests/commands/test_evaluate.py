import json

from PIL import Image
from typer.testing import CliRunner

from molgen.cli import app
from molgen.commands.evaluate import is_checkpoint

GENERATED = ["CCO", "OCC", "", "C(C)(C)(C)(C)C", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN"]
REFERENCE = ["CCO", "CCCO", "c1ccccc1", "CC(=O)O", "CCN", "OCCO", "c1ccccc1O", "CC(C)C"]


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluate_writes_report_table_and_plots(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")  # the tracker then writes metrics.jsonl only
    generated = _write(tmp_path / "gen.smi", GENERATED)
    reference = _write(tmp_path / "ref.smi", REFERENCE)
    out = tmp_path / "out" / "report.json"
    args = [
        "evaluate", str(generated), "--reference", str(reference), "--out", str(out),
        "--plots", "--wandb", "--cache-dir", str(tmp_path / "cache"), "--no-progress",
        "-m", "validity", "-m", "uniqueness", "-m", "novelty", "-m", "qed", "-m", "snn",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["validity"] == 5 / 7 and report["uniqueness"] == 4 / 5
    assert report["novelty"] == 1 / 4 and report["n_samples"] == 7
    assert set(report) >= {"qed", "snn", "definitions"} and "fcd" not in report
    assert "| uniqueness | 0.8000 |" in (tmp_path / "out" / "report.md").read_text()
    assert len((tmp_path / "out" / "report_molecules.csv").read_text().splitlines()) == 8
    for png in ("report_properties.png", "report_grid.png"):
        with Image.open(tmp_path / "out" / png) as image:
            assert image.format == "PNG"
    logged = json.loads((tmp_path / "out" / "report_wandb" / "metrics.jsonl").read_text())
    assert logged["eval/validity"] == 5 / 7
    assert any((tmp_path / "cache").iterdir())  # reference statistics cached


def test_evaluate_reports_missing_and_empty_files(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", str(tmp_path / "missing.smi"), "--no-progress"])
    assert result.exit_code == 2 and "missing.smi: no such file" in result.output
    empty = _write(tmp_path / "gen.smi", ["CCO"])
    (tmp_path / "ref.smi").write_text("")
    result = runner.invoke(app, ["evaluate", str(empty), "-r", str(tmp_path / "ref.smi")])
    assert result.exit_code == 2 and "ref.smi: empty file" in result.output


def test_checkpoint_is_read_once_sampled_on_jobs_and_its_training_set_is_the_reference(
    tmp_path, monkeypatch
):
    import molgen.commands.evaluate as command
    from molgen.training.sampling import Run

    calls = {}

    def load_run(path):
        calls["load"] = calls.get("load", 0) + 1
        return Run(path / "checkpoint.pt", None, None, 1.0, None, ["CCO", "CCC"])

    def iter_samples(run, n, seed, jobs):
        calls["sample"] = (run.checkpoint.parent, n, seed, jobs)
        yield (["CCO", None, "CCN"] * n)[:n]

    def constraint_report(generator, vocab, n, seed):
        calls["constraints"] = (n, seed)
        return {"validity_unconstrained_logits": 0.25, "constraint_free_share": 0.125}

    monkeypatch.setattr(command, "load_run", load_run)
    monkeypatch.setattr(command, "iter_samples", iter_samples)
    monkeypatch.setattr(command, "constraint_report", constraint_report)
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"")
    out = tmp_path / "report.json"
    args = ["evaluate", str(run), "-n", "6", "--seed", "3", "--out", str(out), "--no-progress"]
    args += ["-m", "validity", "-m", "novelty", "--cache-dir", str(tmp_path / "cache"), "-j", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls == {"load": 1, "sample": (run, 6, 3, 2), "constraints": (6, 3)}
    report = json.loads(out.read_text())
    assert report["validity"] == 4 / 6 and report["novelty"] == 0.5
    # The constraints' share of the validity, from the same samples' noise, with definitions.
    assert report["validity_unconstrained_logits"] == 0.25
    assert report["constraint_free_share"] == 0.125
    assert "GraphDF" in report["definitions"]["constraint_free_share"]


def test_unreadable_checkpoint_is_a_one_line_error(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(app, ["evaluate", str(run), "--no-progress"])
    assert result.exit_code == 2 and "not a readable checkpoint" in result.output


def test_is_checkpoint(tmp_path):
    (tmp_path / "run").mkdir()
    assert not is_checkpoint(tmp_path / "run")
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"")
    assert is_checkpoint(tmp_path / "run")
    assert is_checkpoint(tmp_path / "model.pt")
    assert not is_checkpoint(tmp_path / "samples.smi")
