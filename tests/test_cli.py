import errno
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
    for command in ("config", "train", "sample", "evaluate"):
        assert command in result.output


def test_config_show_prints_resolved_overrides():
    result = runner.invoke(app, ["config", "show", "configs/debug.yaml", "train.batch_size=64"])
    assert result.exit_code == 0, result.output
    assert "batch_size: 64" in result.output


def test_config_show_bad_key_exits_with_message():
    result = runner.invoke(app, ["config", "show", "configs/debug.yaml", "train.batchsize=64"])
    assert result.exit_code == 2
    assert "did you mean 'train.batch_size'" in result.output


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "molgen", "--help"], capture_output=True, text=True, check=True
    )
    assert "train" in out.stdout


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
