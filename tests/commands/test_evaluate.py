import csv
import gzip
import importlib.util
import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from molgen.cli import app
from molgen.commands.evaluate import run_evaluation

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
    from molgen.training.run import Run

    calls = {}

    def load_run(path):
        calls["load"] = calls.get("load", 0) + 1
        return Run(path / "checkpoint.pt", None, None, 1.0, None, ["CCO", "CCC"])

    def iter_samples(run, n, seed, jobs):
        calls["sample"] = (run.checkpoint.parent, n, seed, jobs)
        yield (["CCO", None, "CCN"] * n)[:n]

    def constraint_report(generator, vocab, samples, seed, jobs):
        calls["constraints"] = (list(samples), seed, jobs)
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
    # the report is given the samples evaluated (not a count to draw again), and the jobs
    drawn = ["CCO", None, "CCN", "CCO", None, "CCN"]
    assert calls == {"load": 1, "sample": (run, 6, 3, 2), "constraints": (drawn, 3, 2)}
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


def test_an_exported_generator_has_no_training_molecules_for_novelty(tmp_path):
    from molgen.chem import Vocabulary
    from molgen.config import load_config
    from molgen.training.run import GENERATOR_FORMAT, build_generator, save_checkpoint

    cfg = load_config("configs/debug.yaml", ["generator.constraint=valence_connected"])
    vocab = Vocabulary(("C", "N", "O"), max_atoms=6)
    state = {
        "config": cfg.model_dump(mode="json"),
        "vocab": vocab.to_dict(),
        "generator": build_generator(cfg.generator, vocab).state_dict(),
        "tau": 0.5,
        "provenance": {},
    }
    exported = save_checkpoint(state, tmp_path / "gen.pt", file_format=GENERATOR_FORMAT)
    out = tmp_path / "report.json"
    kwargs = {"n": 16, "metrics": ["validity", "novelty"], "progress": False}
    kwargs["cache_dir"] = tmp_path / "cache"
    with pytest.warns(UserWarning, match="novelty .* need --reference"):
        run_evaluation(exported, out, **kwargs)
    report = json.loads(out.read_text())
    assert "novelty" not in report and "validity" in report
    assert any("exported generator, without its training molecules" in n for n in report["notes"])
    reference = _write(tmp_path / "ref.smi", REFERENCE)
    run_evaluation(exported, out, reference=reference, **kwargs)
    report = json.loads(out.read_text())
    assert 0.0 <= report["novelty"] <= 1.0 and not report["notes"]


def test_evaluate_moses_benchmark_writes_moses_keys_and_table(tmp_path):
    if importlib.util.find_spec("moses") is None:
        pytest.skip("molsets wheel not installed")  # Filters reads MOSES' SMARTS lists
    generated = _write(tmp_path / "gen.smi", [*GENERATED, "CC.O", "F/C=C/F"])
    files = {name: _write(tmp_path / f"{name}.smi", REFERENCE) for name in ("t", "s", "r")}
    out = tmp_path / "report.json"
    metrics = ["valid", "unique@1000", "SNN/Test", "Scaf/TestSF", "Filters", "logP", "Novelty"]
    args = [
        "evaluate", str(generated), "--benchmark", "moses", "--test", str(files["t"]),
        "--test-scaffolds", str(files["s"]), "--train", str(files["r"]), "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"), "--no-progress", "-j", "1",
        *[arg for key in metrics for arg in ("-m", key)],
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [key for key in report if key in metrics] == metrics  # MOSES' order, top level
    assert report["valid"] == 7 / 9  # the salt-like CC.O counts as valid for MOSES
    assert report["unique@1000"] == 6 / 7  # CCO = OCC
    # CCO and CCN are in the training file as written; its c1ccccc1O is not RDKit's canonical
    # Oc1ccccc1, and MOSES compares the strings
    assert report["Novelty"] == 4 / 6
    assert "fragments allowed" in report["definitions"]["valid"]
    markdown = (tmp_path / "report.md").read_text()
    header = "| Model | valid | unique@1000 | unique@10000 | FCD/Test | FCD/TestSF | SNN/Test |"
    assert header in markdown and "| CharRNN | 0.9748±0.0264 | 1.0±0.0 |" in markdown
    assert "| LatentGAN | 0.8966±0.0029 |" in markdown and "MOSES README" in markdown
    bad = CliRunner().invoke(app, ["evaluate", str(generated), "--test", str(files["t"])])
    assert bad.exit_code == 2 and "--benchmark moses" in bad.output


def _hostile_lines() -> tuple[list[bytes], dict[str, int], int]:
    """Sample lines of every kind `evaluate` must handle (valid variants, odd characters, bytes
    that are not UTF-8, oversized, empty, unparseable and unsanitizable molecules, pasted gzip
    bytes), with the reasons it must count."""
    kinds = {
        # sample bytes: reason (None = strict-valid)
        b"CCO": None,
        b"OCC ethanol": None,  # a name after the SMILES
        b"CCN\r": None,  # CRLF line end
        b"[H]OC([H])([H])[H]": None,  # explicit hydrogens: methanol
        b"[CH3:1][OH:2]": None,  # atom maps
        b"*C": None,  # RDKit's dummy atom sanitizes
        "CC\u00d6".encode(): "characters",  # RDKit would trim it and read ethane
        "\u00e9CC".encode(): "characters",
        b"\x00CCO": "characters",  # NUL, RDKit would read ethanol
        b"CCO\x00": "characters",
        b"CC\x01": "characters",  # a control byte
        b"C\x0bC": "characters",  # vertical tab is not a field separator
        b"CC\xffO": "encoding",  # not UTF-8
        b"\x80CC": "encoding",
        b"C" * 1500: "too_large",  # over --max-atoms 1000
        b"C1" + b"C" * 1200 + b"1": "too_large",  # a huge ring
        b"": "empty",  # blank line
        b"   ": "empty",
        b"C(": "parse",
        b"C(C)(C)(C)(C)C": "valence",
        b"c1cccc1": "kekulization",
        b"[Na+].[Cl-]": "disconnected",
    }
    gz = gzip.compress(b"CCO\n")  # a gzip file's bytes pasted into a text file
    lines = [*kinds, gz]
    reasons: dict[str, int] = {}
    for reason in kinds.values():
        if reason is not None:
            reasons[reason] = reasons.get(reason, 0) + 1
    n_valid = sum(reason is None for reason in kinds.values())
    return lines, reasons, n_valid


def test_hostile_input_is_counted_by_reason(tmp_path):
    lines, reasons, n_valid = _hostile_lines()
    path = tmp_path / "hostile.smi"
    path.write_bytes(b"\n".join(lines) + b"\n")
    evaluation = run_evaluation(
        path, tmp_path / "report.json", metrics={"validity"}, progress=False
    )
    n_gzip = evaluation.n_samples - len(lines) + 1  # the pasted gzip bytes: lines of binary
    assert n_gzip >= 1
    counted = dict(evaluation.reasons)
    # the gzip bytes are all invalid, each as "characters" or "encoding"
    gzip_invalid = sum(counted.values()) - sum(reasons.values())
    assert gzip_invalid == n_gzip
    assert counted.get("too_large") == 2 and counted["empty"] == 2
    for reason in ("parse", "valence", "kekulization", "disconnected"):
        assert counted[reason] == reasons[reason], reason
    assert counted["characters"] + counted["encoding"] == 8 + gzip_invalid
    assert evaluation.n_valid == n_valid
    # the same lines, gzip-compressed, read transparently (by their bytes, not their name)
    packed = tmp_path / "hostile.txt"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    again = run_evaluation(packed, tmp_path / "again.json", metrics={"validity"}, progress=False)
    assert again.reasons == evaluation.reasons and again.n_valid == n_valid


def test_hostile_input_exact_counts_without_binary_lines(tmp_path):
    lines, reasons, n_valid = _hostile_lines()
    path = tmp_path / "hostile.smi.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines[:-1]) + b"\n"))
    evaluation = run_evaluation(
        path, tmp_path / "report.json", metrics={"validity"}, progress=False
    )
    assert evaluation.reasons == reasons
    assert evaluation.n_valid == n_valid and evaluation.n_samples == len(lines) - 1
    with open(tmp_path / "report_molecules.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert len(rows) == len(lines)  # header + one row per sample
    assert rows[1 + lines.index(b"CC\xffO")][1] == "CC\\xffO"  # bad bytes escaped


def test_max_atoms_option(tmp_path):
    path = _write(tmp_path / "gen.smi", ["C" * 30, "CCO"])
    result = CliRunner().invoke(
        app,
        ["evaluate", str(path), "-o", str(tmp_path / "r.json"), "--max-atoms", "20",
         "--no-progress", "-m", "validity", "-j", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["invalid_reasons"] == {"too_large": 1}


def test_an_interrupted_evaluation_leaves_the_previous_report_set(tmp_path, monkeypatch):
    import molgen.commands.evaluate as command

    out = tmp_path / "report.json"
    path = _write(tmp_path / "gen.smi", GENERATED)
    run_evaluation(path, out, metrics={"validity"}, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("report")}
    assert set(before) == {"report.json", "report.md", "report_molecules.csv"}

    def interrupted(*args, on_rows, **kwargs):
        on_rows([(0, "CCN", "CCN", True, None, 0.5, 0.1, 2.0)])  # a partial table
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(_write(tmp_path / "other.smi", ["CCN"]), out, progress=False)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("report")}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]
