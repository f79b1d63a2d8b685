import subprocess
import sys

from typer.testing import CliRunner

from molgen.cli import app

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
