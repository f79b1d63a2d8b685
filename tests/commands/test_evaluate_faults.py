"""`molgen evaluate` (and `sample`, `export`) against hostile files, careless paths and faults of
the machine, through the real command line: in-process (CliRunner) where a fault is simulated,
in a subprocess of `molgen` where memory, signals or a second process are the point."""

import errno
import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import molgen
from molgen.chem.files import FileChangedWarning
from molgen.cli import app

runner = CliRunner()
MOLGEN = [sys.executable, "-m", "molgen"]
GENERATED = ["CCO", "CCN", "c1ccccc1O", "CC(=O)O", "CCO"]
REFERENCE = ["CCO", "CCCO", "c1ccccc1"]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _evaluate(*args: str | Path):
    argv = ["evaluate", *map(str, args), "--jobs", "1", "--no-progress", "-m", "validity"]
    return runner.invoke(app, argv)


@pytest.fixture
def smiles(tmp_path) -> tuple[Path, Path]:
    """A generated and a reference SMILES file."""
    return _write(tmp_path / "gen.smi", GENERATED), _write(tmp_path / "ref.smi", REFERENCE)


@pytest.fixture
def run(tmp_path) -> Path:
    """A run folder: the shipped generator as its checkpoint, and its training molecules."""
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copyfile(
        Path(molgen.__file__).parent / "pretrained" / "qm9.pt", folder / "checkpoint.pt"
    )
    _write(folder / "train.smi", REFERENCE)
    return folder


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


# --------------------------------------------------------------------------- outputs vs inputs


@pytest.mark.parametrize(
    "out, what",
    [
        ("gen.smi", "the generated file"),
        ("ref.smi", "--reference"),
        ("gen_link.json", "the generated file"),  # a symbolic link to gen.smi
        ("ref_hard.json", "--reference"),  # a hard link to ref.smi
        ("dir/../ref.smi", "--reference"),
    ],
    ids=["generated", "reference", "symlink", "hard_link", "dotdot"],
)
def test_a_report_that_would_overwrite_an_input_is_refused(tmp_path, smiles, out, what):
    gen, ref = smiles
    (tmp_path / "gen_link.json").symlink_to(gen)
    os.link(ref, tmp_path / "ref_hard.json")
    (tmp_path / "dir").mkdir()
    before = _contents(tmp_path)
    result = _evaluate(gen, "--reference", ref, "-o", tmp_path / out)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"is {what}" in lines[0] and "would destroy it" in lines[0]
    assert _contents(tmp_path) == before


def test_json_and_markdown_to_one_path_is_refused(tmp_path, smiles):
    result = _evaluate(smiles[0], "-o", tmp_path / "r" / "report.md")
    assert result.exit_code == 2, result.output
    assert "the markdown report" in result.output and "--out" in result.output
    assert "are one file" in result.output and not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["sample", "export", "evaluate"])
@pytest.mark.parametrize("target", ["checkpoint.pt", "link.pt"], ids=["file", "symlink"])
def test_no_command_writes_over_the_runs_checkpoint(tmp_path, run, command, target):
    (tmp_path / "link.pt").symlink_to(run / "checkpoint.pt")
    out = run / target if target == "checkpoint.pt" else tmp_path / target
    before = _contents(tmp_path)
    args = {"sample": ["-n", "10"], "export": [], "evaluate": ["-n", "10", "--no-progress"]}
    result = runner.invoke(app, [command, str(run), *args[command], "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "the run's checkpoint" in result.output and str(run / "checkpoint.pt") in result.output
    assert _contents(tmp_path) == before


def test_evaluate_refuses_to_write_over_the_runs_training_molecules(tmp_path, run):
    before = _contents(tmp_path)
    result = runner.invoke(app, ["evaluate", str(run), "-n", "10", "-o", str(run / "train.smi")])
    assert result.exit_code == 2 and "the run's training molecules" in result.output
    assert _contents(tmp_path) == before


def test_sample_image_and_output_on_one_file_is_refused(tmp_path, run):
    out = tmp_path / "s.png"
    result = runner.invoke(
        app, ["sample", str(run), "-n", "5", "-o", str(out), "--image", str(out)]
    )
    assert result.exit_code == 2 and "are one file" in result.output and not out.exists()


def test_out_onto_an_existing_folder_names_the_folder_and_leaves_nothing(tmp_path, smiles):
    (tmp_path / "reports").mkdir()
    before = _contents(tmp_path)
    result = _evaluate(smiles[0], "-o", tmp_path / "reports")
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'reports'} is a folder" in result.output
    assert ".partial" not in result.output
    assert _contents(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "gen.smi", "ref.smi", "reports"
    ]  # fmt: skip


# --------------------------------------------------------------------------- two evaluations


def test_the_staged_files_of_a_live_evaluation_are_left_alone(tmp_path, smiles):
    live = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        others = {
            pid: tmp_path / f".report_molecules.{pid}.partial.csv" for pid in (live.pid, dead.pid)
        }
        for path in others.values():
            path.write_text("index,input\n")
        result = _evaluate(smiles[0], "-o", tmp_path / "report.json")
        assert result.exit_code == 0, result.output
        assert others[live.pid].exists()  # another process is still writing it
        assert not others[dead.pid].exists()  # its writer is gone: an orphan
    finally:
        live.kill()
        live.wait()
    assert {"report.json", "report.md", "report_molecules.csv"} <= set(os.listdir(tmp_path))


@pytest.mark.slow  # two command lines at once, each importing torch and RDKit
def test_two_evaluations_into_one_out_both_finish_and_leave_one_whole_set(tmp_path):
    lines = GENERATED * 4000
    inputs = [
        _write(tmp_path / "a.smi", lines),
        _write(tmp_path / "b.smi", lines[: len(lines) // 2]),
    ]
    out = tmp_path / "out" / "report.json"
    args = ["evaluate", "--jobs", "1", "--no-progress", "-m", "validity", "-o", str(out)]
    procs = [
        subprocess.Popen(
            [*MOLGEN, *args, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for path in inputs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    report = json.loads(out.read_text())
    rows = (out.parent / "report_molecules.csv").read_text().splitlines()
    assert report["n_samples"] in (len(lines), len(lines) // 2)
    assert len(rows) == report["n_samples"] + 1  # the table and the report are one run's
    assert (out.parent / "report.md").is_file()
    assert not [p for p in out.parent.iterdir() if ".partial" in p.name]


# --------------------------------------------------------------------------- memory and time


def _limited(limit_bytes: int):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, limit_bytes))

    return set_limit


def test_memory_stays_bounded_on_hostile_files_and_a_full_stdout_is_one_line(tmp_path):
    # generated: a 10 MB line of "C(" (RDKit would take minutes), then 1 GiB of zeros with no
    # newline (a sparse file); reference: gzip data expanding to 1 GiB of zeros, then two lines
    gen = tmp_path / "gen.smi"
    with open(gen, "w") as f:
        f.write("CCO\n" + "C(" * 5_000_000 + "\nCCN\n")
    os.truncate(gen, 1 << 30)
    ref = tmp_path / "ref.smi"
    ref.write_bytes(gzip.compress(b"\0" * (1 << 20)) * 1024 + gzip.compress(b"\nCCO\nCCN\n"))
    out = tmp_path / "report.json"
    command = [*MOLGEN, "evaluate", str(gen), "--reference", str(ref), "-o", str(out)]
    command += ["--jobs", "1", "--no-progress", "-m", "validity", "-m", "novelty"]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            command,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=180,
            preexec_fn=_limited(768 << 20),  # far less than one line of either file
            env={**os.environ, "MOLGEN_DEBUG": ""},
        )
    assert done.returncode == 1, done.stderr  # the report is written; printing it fails
    assert done.stderr.strip().splitlines() == [
        "error: cannot write the output: No space left on device"
    ]
    report = json.loads(out.read_text())
    assert report["n_samples"] == 4 and report["invalid_reasons"] == {"too_long": 2}
    assert report["validity"] == 0.5 and report["reference_size"] == 2
    assert report["novelty"] == 0.0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="needs Linux's /proc/PID/task/PID/children to see the pool's workers",
)
def test_sigterm_stops_an_evaluation_with_a_working_pool_within_seconds(tmp_path):
    gen = _write(tmp_path / "gen.smi", ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"] * 400_000)
    out = tmp_path / "report.json"
    proc = subprocess.Popen(
        [*MOLGEN, "evaluate", str(gen), "-o", str(out), "--jobs", "2", "--no-progress"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    # the pool works once the fork server (a child) has forked both workers
    while sum(len(_children(server)) for server in _children(proc.pid)) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.1)
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 3.0
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["error: terminated (SIGTERM)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen.smi"]  # nothing half-written


@pytest.mark.slow  # four command lines, each importing torch and RDKit
@pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="needs Linux's /proc/PID/task/PID/children to see the pool start",
)
@pytest.mark.parametrize("delay", [0.0, 0.1, 0.3, 0.6])
def test_sigterm_while_the_pool_starts_is_one_line_from_every_process(tmp_path, delay):
    gen = _write(tmp_path / "gen.smi", ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"] * 20_000)
    ref = _write(tmp_path / "ref.smi", REFERENCE)
    proc = subprocess.Popen(
        [*MOLGEN, "evaluate", str(gen), "--reference", str(ref), "-o", str(tmp_path / "r.json")]
        + ["--jobs", "2", "--no-progress"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MOLGEN_DEBUG": ""},
    )
    deadline = time.monotonic() + 180
    # the pool starts with its first child (the fork server or the resource tracker); its
    # workers follow, forked by the server while the command goes on
    while not _children(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    # stderr is shared with the server and its workers: a traceback of any of them shows here
    assert "Traceback" not in err, err
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["error: terminated (SIGTERM)"]


# --------------------------------------------------------------------------- faults and counts


@pytest.mark.parametrize(
    "failing, named",
    [
        ("molgen.metrics.report.MoleculeTableWriter.__call__", "report_molecules.csv"),
        ("molgen.commands.evaluate.write_report", "report.json"),
    ],
    ids=["table", "report"],
)
def test_a_full_disk_names_the_report_file_and_keeps_the_previous_set(
    tmp_path, smiles, monkeypatch, failing, named
):
    out = tmp_path / "report.json"
    assert _evaluate(smiles[0], "-o", out).exit_code == 0
    before = _contents(tmp_path)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(failing, disk_full)
    result = _evaluate(smiles[1], "-o", out)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path / named) in lines[0]
    assert "No space left on device" in lines[0] and ".partial" not in lines[0]
    assert _contents(tmp_path) == before


def test_a_file_truncated_while_it_is_evaluated_warns(tmp_path, monkeypatch):
    import molgen.metrics.report as report

    gen = _write(tmp_path / "gen.smi", ["CCO", "CCN"] * 60_000)
    writer_call = report.MoleculeTableWriter.__call__

    def truncate_after_the_first_chunk(self, rows):
        os.truncate(gen, 1000)  # another process cuts the file meanwhile
        writer_call(self, rows)

    monkeypatch.setattr(report.MoleculeTableWriter, "__call__", truncate_after_the_first_chunk)
    with pytest.warns(FileChangedWarning, match=r"gen\.smi changed while it was read"):
        result = _evaluate(gen, "-o", tmp_path / "report.json")
    assert result.exit_code == 0, result.output
    notes = json.loads((tmp_path / "report.json").read_text())["notes"]
    assert any("gen.smi changed while it was read" in note for note in notes)


def test_isotopes_are_one_molecule_and_an_unspecified_bond_is_invalid(tmp_path):
    gen = _write(tmp_path / "gen.smi", ["C", "[2H]C([2H])([2H])[2H]", "C~C", "CC", "[13CH4]"])
    ref = _write(tmp_path / "ref.smi", ["[2H]C([2H])([2H])[2H]", "CCO"])
    out = tmp_path / "report.json"
    result = runner.invoke(
        app,
        ["evaluate", str(gen), "-r", str(ref), "-o", str(out), "--jobs", "1", "--no-progress",
         "-m", "validity", "-m", "uniqueness", "-m", "novelty"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["invalid_reasons"] == {"bond_type": 1}
    assert report["validity"] == 4 / 5
    assert report["uniqueness"] == 2 / 4  # C (three spellings) and CC
    assert report["novelty"] == 1 / 2  # methane is in the reference, whatever its isotopes
    assert "isotopes" in report["definitions"]["canonical"]
