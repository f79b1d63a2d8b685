"""Smoke test of scripts/bench_quality.py: a few steps, scored and tuned on val."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_quality.py"


@pytest.mark.slow  # trains twice and loads ChemNet for FCD (about 30 s)
def test_fixed_steps_are_scored_against_test_and_temperatures_chosen_on_val(tmp_path, capsys):
    pytest.importorskip("fcd")
    spec = importlib.util.spec_from_file_location("bench_quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.ATOM_TEMPERATURES, module.BOND_TEMPERATURES = (1.0,), (1.0, 2.0)  # a small grid
    args = ["--steps", "4", "--intervals", "2", "-n", "64", "--tune-temperature"]
    args += ["--tune-samples", "32", "--config", "configs/debug.yaml", "--out", str(tmp_path)]
    args += [f"data.cache_dir={tmp_path / 'cache'}", "generator.constraint=valence_connected"]
    args += ["train.ema_decay=0.9"]
    rows = module.main(args)
    assert [r["step"] for r in rows] == [2, 4]
    run = tmp_path / "run"
    for split in ("train", "val", "test"):
        assert (run / f"{split}.smi").read_text().strip()
    for row in rows:
        assert row["ms_per_step"] > 0 and math.isfinite(row["fcd_test"])
        assert row["validity_relaxed"] == 1.0  # valence budgets: every sample sanitizes
        assert row["vun"] == pytest.approx(row["validity"] * row["uniqueness"] * row["novelty"])
    result = json.loads((tmp_path / "quality.json").read_text())
    assert len(result["grid"]) == 2 and all("fcd_val" in r for r in result["grid"])
    best = min(result["grid"], key=lambda r: r["fcd_val"])
    assert (result["tuned"]["atoms"], result["tuned"]["bonds"]) == (best["atoms"], best["bonds"])
    assert "chosen on val" in capsys.readouterr().out
    # --run scores the trained folder again without training it further.
    checkpoint = run / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns, checkpoint.read_bytes()
    again = module.main(["--run", str(run), "-n", "64", "--out", str(tmp_path / "again")])
    assert (checkpoint.stat().st_mtime_ns, checkpoint.read_bytes()) == before
    assert [r["step"] for r in again] == [4] and math.isnan(again[0]["ms_per_step"])
    assert again[0]["validity_relaxed"] == 1.0
    assert json.loads((tmp_path / "again" / "quality.json").read_text())["rows"][0]["step"] == 4
