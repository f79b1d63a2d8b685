"""W&B sweep configs drive `molgen train` through dotted overrides that must validate."""

from pathlib import Path

import pytest
import yaml

from molgen.cli import default_run_dir
from molgen.config import load_config

SWEEPS = sorted((Path(__file__).parents[1] / "configs" / "sweeps").glob("*.yaml"))


def candidate_values(spec):
    if "values" in spec:
        return spec["values"]
    if "value" in spec:
        return [spec["value"]]
    return [spec["min"], spec["max"]]


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_parameters_are_valid_overrides(path):
    sweep = yaml.safe_load(path.read_text())
    command = sweep["command"]
    assert command[2:5] == ["-m", "molgen", "train"] and "${args_no_hyphens}" in command
    config = command[5]
    fixed = [a for a in command[6:] if "=" in a]
    for key, spec in sweep["parameters"].items():
        for value in candidate_values(spec):
            # ${args_no_hyphens} renders each parameter as key=value
            cfg = load_config(
                config,
                [*fixed, f"{key}={yaml.safe_dump(value).strip().removesuffix('...').strip()}"],
            )
            section, field = key.split(".")
            assert getattr(getattr(cfg, section), field) == value
    assert sweep["metric"]["name"].startswith("eval/")


def test_sweep_runs_get_their_own_directories(monkeypatch):
    monkeypatch.delenv("WANDB_SWEEP_ID", raising=False)
    assert default_run_dir("qm9_5k") == Path("runs/qm9_5k")
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc")
    monkeypatch.setenv("WANDB_RUN_ID", "r123")
    assert default_run_dir("qm9_5k") == Path("runs/qm9_5k-r123")
