import json
import re

import pytest

from molgen.config import WandbConfig
from molgen.tracking import open_tracker, resolve_wandb_mode


def test_mode_precedence(monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert resolve_wandb_mode(None) == "offline"  # never online by accident
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode(None) == "disabled"
    assert resolve_wandb_mode("offline") == "offline"  # the config wins over the environment
    monkeypatch.setenv("WANDB_MODE", "bogus")
    with pytest.raises(ValueError, match="WANDB_MODE"):
        resolve_wandb_mode(None)


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
