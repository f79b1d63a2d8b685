import errno
import importlib.util
import json
import os
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from molgen.cli import app
from molgen.errors import InputError, Interrupted, MolgenFault

runner = CliRunner()


def test_help_lists_subcommands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("config", "train", "sample", "export", "evaluate"):
        assert command in result.output


def test_config_show_prints_resolved_overrides():
    result = runner.invoke(app, ["config", "show", "configs/debug.yaml", "train.batch_size=64"])
    assert result.exit_code == 0, result.output
    assert "batch_size: 64" in result.output


def test_config_show_bad_key_exits_with_message():
    result = runner.invoke(app, ["config", "show", "configs/debug.yaml", "train.batchsize=64"])
    assert result.exit_code == 2
    assert "did you mean 'train.batch_size'" in result.output


def test_sample_the_shipped_qm9_generator_by_name(tmp_path, monkeypatch):
    from rdkit import Chem

    monkeypatch.chdir(tmp_path)  # no file or folder named qm9 here: the name is the shipped one
    result = runner.invoke(app, ["sample", "qm9", "-n", "50", "-o", "out.smi"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "out.smi").read_text().split("\n")[:-1]
    assert len(lines) == 50
    # strict: one fragment that RDKit sanitizes (the shipped sampler keeps valences, connects)
    strict = [s for s in lines if s and "." not in s and Chem.MolFromSmiles(s) is not None]
    assert len(strict) / len(lines) >= 0.95
    assert len(set(strict)) > 25  # molecules, not one molecule repeated


def test_sample_the_shipped_moses_generator_by_name(tmp_path, monkeypatch):
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["sample", "moses", "-n", "64", "-o", "out.smi", "--seed", "0"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "out.smi").read_text().split("\n")[:-1]
    mols = [Chem.MolFromSmiles(s) for s in lines]
    # ring systems drawn whole at sites within their budgets: every sample one molecule
    assert len(lines) == 64 and all(m is not None for m in mols)
    assert not any("." in s for s in lines)
    assert len(set(lines)) > 56
    assert all(m.GetNumHeavyAtoms() <= 60 for m in mols)
    aromatic_rings = [rdMolDescriptors.CalcNumAromaticRings(m) for m in mols]
    assert 1.0 < sum(aromatic_rings) / len(mols) < 3.5  # MOSES' test set: 1.98


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "molgen", "--help"], capture_output=True, text=True, check=True
    )
    assert "train" in out.stdout


@pytest.mark.slow  # ~25 CPU-seconds: three commands, each importing torch and RDKit
@pytest.mark.skipif(importlib.util.find_spec("moses") is None, reason="needs molsets")
def test_moses_trains_samples_and_evaluates_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = tmp_path / "run"
    overrides = [
        f"data.cache_dir={tmp_path / 'cache'}", "data.limit=300", "train.steps=4",
        "train.batch_size=8", "train.eval_every=2", "train.n_eval=16", "train.checkpoint_every=2",
    ]  # fmt: skip
    result = runner.invoke(
        app, ["train", "configs/moses_atoms.yaml", *overrides, "--out", str(run)]
    )
    assert result.exit_code == 0, result.output
    train_smiles = (run / "train.smi").read_text().split()
    assert len(train_smiles) == 270  # 300 molecules, 5% validation and 5% test held out
    samples = tmp_path / "samples.smi"
    result = runner.invoke(app, ["sample", str(run), "-n", "64", "-o", str(samples)])
    assert result.exit_code == 0, result.output
    assert len(samples.read_text().split("\n")[:-1]) == 64
    report_path = tmp_path / "report.json"
    args = ["evaluate", str(samples), "--reference", str(run / "train.smi")]
    args += ["--out", str(report_path), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    args += ["-m", "validity", "-m", "validity_relaxed", "-m", "novelty"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["n_samples"] == 64 and 0.0 <= report["validity"] <= report["validity_relaxed"]


def _config_show_raising(monkeypatch, error, *args, env=None):
    def load_config(*a, **k):
        raise error

    monkeypatch.setattr("molgen.cli.load_config", load_config)
    return runner.invoke(app, [*args, "config", "show", "configs/debug.yaml"], env=env)


@pytest.mark.parametrize(
    "error, code, line",
    [
        (InputError("a.yaml:3: bad"), 2, "error: a.yaml:3: bad"),
        (OSError(errno.EROFS, "Read-only file system", "runs/x"), 1, "runs/x: Read-only"),
        (MolgenFault("W&B unreachable"), 1, "error: W&B unreachable"),
        (Interrupted(signal.SIGTERM, "terminated"), 143, "error: terminated"),
        (KeyboardInterrupt(), 130, "error: interrupted"),
        (ZeroDivisionError("oops\nsecond line"), 1, "internal error, a bug in molgen"),
    ],
    ids=["mistake", "os_fault", "fault", "sigterm", "ctrl_c", "bug"],
)
def test_each_kind_of_error_is_one_line_with_its_exit_code(monkeypatch, error, code, line):
    result = _config_show_raising(monkeypatch, error)
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and line in lines[0], result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(monkeypatch):
    for args, env in [(["--debug"], None), ([], {"MOLGEN_DEBUG": "1"})]:
        result = _config_show_raising(monkeypatch, ZeroDivisionError("oops"), *args, env=env)
        assert isinstance(result.exception, ZeroDivisionError), result.output


def _molgen(*args, **kwargs) -> subprocess.CompletedProcess:
    """Run the real command line; stderr in the result, without ``--debug``."""
    return subprocess.run(
        [sys.executable, "-m", "molgen", *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MOLGEN_DEBUG": ""},
        **kwargs,
    )


def _error_lines(stderr: str) -> list[str]:
    """The ``error:`` lines among the progress bars."""
    return [line for line in stderr.replace("\r", "\n").splitlines() if "error" in line]


@pytest.mark.parametrize(
    "args",
    [["config", "show", "configs/debug.yaml"], ["sample", "qm9", "-n", "10", "-o", "s.smi"]],
    ids=["config_show", "sample"],  # sample prints inside its error reporting
)
def test_a_full_stdout_is_one_line_and_exit_code_1(tmp_path, args):
    args = [str(tmp_path / arg) if arg == "s.smi" else arg for arg in args]
    with open("/dev/full", "w") as full:
        done = _molgen(*args, stdout=full)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert _error_lines(done.stderr) == ["error: cannot write the output: No space left on device"]


def test_a_failed_write_to_a_named_file_names_it_not_the_output(tmp_path):
    import resource

    def limit_file_size():  # a write past 1000 bytes fails with EFBIG (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    out = tmp_path / "s.smi"
    done = _molgen(
        "sample", "qm9", "-n", "500", "-o", str(out), stdout=subprocess.PIPE,
        preexec_fn=limit_file_size,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [line] = _error_lines(done.stderr)
    assert line.startswith(f"error: cannot write {out}: File too large"), line
    assert done.stdout == "" and not list(tmp_path.iterdir())  # no partial file either


def _billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + f"\nname: *{chr(ord('a') + levels - 1)}\n"


@pytest.mark.parametrize(
    "text, message",
    [
        (_billion_laughs(), "aliases expand to more than 100,000 values"),
        ("name: &a [1, *a]\n", "an alias inside its own anchor"),
        ("name: " + "[" * 60_000 + "]" * 60_000 + "\n", "nested too deeply"),
    ],
    ids=["billion_laughs", "recursive_alias", "deep_nesting"],
)
def test_a_config_that_would_exhaust_memory_or_the_stack_exits_2(tmp_path, text, message):
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    assert len(_billion_laughs().encode()) < 1024  # a kilobyte that expands to 387 million
    result = runner.invoke(app, ["config", "show", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and message in lines[0]


def test_aliases_within_the_bound_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("generator:\n  hidden: &width [64, 64]\ndiscriminator:\n  mlp_dims: *width\n")
    result = runner.invoke(app, ["config", "show", str(path)])
    assert result.exit_code == 0, result.output
    assert "mlp_dims:\n  - 64\n  - 64" in result.output


@pytest.mark.parametrize(
    "override, message",
    [
        ("name=" + "[" * 60_000 + "]" * 60_000, "nested too deeply"),
        (".".join(["a"] * 60_000) + "=1", "unknown key"),
    ],
    ids=["deep_value", "deep_key"],
)
def test_a_60000_deep_override_exits_2_with_a_short_message(override, message):
    result = runner.invoke(app, ["config", "show", "configs/debug.yaml", override])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and len(lines[0]) < 400
    assert "(120,00" in lines[0]  # the override is quoted cut, with its length


def test_a_fifo_or_a_device_as_the_config_says_what_it_is(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    for path, what in [(fifo, "a named pipe (FIFO), not a file"), ("/dev/null", "a device")]:
        result = runner.invoke(app, ["config", "show", str(path)])
        assert result.exit_code == 2, result.output
        assert f"config file {path} is {what}" in result.output
        assert "not found" not in result.output
