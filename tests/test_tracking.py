import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from molgen import tracking
from molgen.cli import app
from molgen.config import WandbConfig
from molgen.errors import InputError, MolgenFault
from molgen.tracking import check_wandb_reachable, open_tracker, resolve_wandb_mode

CONFIGS = Path(__file__).parents[1] / "configs"


def test_mode_precedence(monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert resolve_wandb_mode(None) == "offline"  # never online by accident
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode(None) == "disabled"
    assert resolve_wandb_mode("offline") == "offline"  # the config wins over the environment
    for bad in ("bogus", ""):  # set but empty is a mistake too, not "unset"
        monkeypatch.setenv("WANDB_MODE", bad)
        with pytest.raises(InputError, match="WANDB_MODE"):
            resolve_wandb_mode(None)


def test_train_with_an_empty_wandb_mode_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "")
    result = CliRunner().invoke(
        app, ["train", str(CONFIGS / "debug.yaml"), "--out", str(tmp_path / "run"), "--no-progress"]
    )
    assert result.exit_code == 2 and "WANDB_MODE must be" in result.output
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_jsonl_only_when_disabled(tmp_path):
    with open_tracker(tmp_path, {"a": 1}, wandb=WandbConfig(mode="disabled")) as tracker:
        tracker.log({"loss": 1.5, "bad": float("nan")}, step=3)
        table = tracker.log_table("eval/samples", ["smiles", "qed"], [["CCO", 0.4]], step=3)
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {
        "step": 3,
        "loss": 1.5,
        "bad": None,
    }
    assert table.read_text().splitlines() == ["smiles\tqed", "CCO\t0.4"]
    assert not (tmp_path / "wandb").exists()


def test_offline_run_is_resumed_with_the_same_id(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    for step in (1, 2):
        with open_tracker(tmp_path, {}, wandb=WandbConfig(mode="offline")) as tracker:
            tracker.log({"x": float(step)}, step=step)
    run_id = (tmp_path / "wandb_run_id").read_text()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    # W&B names a folder offline-run-DATE_TIME-ID, with "-1" appended when both share a second
    pattern = re.compile(rf"offline-run-\d{{8}}_\d{{6}}-{run_id}(-\d+)?")
    assert len(runs) == 2 and all(pattern.fullmatch(r.name) for r in runs)
    assert [
        json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
    ] == [1, 2]


def test_online_without_network_fails_at_once_naming_the_server(tmp_path, monkeypatch):
    def unreachable(address, timeout):
        assert timeout <= 5
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(tracking.socket, "create_connection", unreachable)
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")
    with pytest.raises(MolgenFault, match=r"wandb\.example\.org:443 cannot be reached"):
        open_tracker(tmp_path, {}, wandb=WandbConfig(mode="online"))
    check_wandb_reachable(WandbConfig(mode="offline"))  # offline needs no network


OFFLINE_RUN = """
import atexit, socket, sys
from pathlib import Path
lookups = []
atexit.register(lambda: print(lookups))  # runs last: after W&B's own exit handlers
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: lookups.append(host) or real(host, *a, **k)
from molgen.config import WandbConfig
from molgen.tracking import open_tracker
with open_tracker(Path(sys.argv[1]), {}, wandb=WandbConfig(mode="offline")) as tracker:
    tracker.log({"x": 1.0}, step=1)
"""


def test_offline_run_looks_up_no_host(tmp_path):
    # A fresh process without $WANDB_MODE (which the tests set): W&B's process-wide settings
    # are then online unless molgen says offline.
    env = {k: v for k, v in os.environ.items() if k != "WANDB_MODE"}
    out = subprocess.run(
        [sys.executable, "-c", OFFLINE_RUN, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
