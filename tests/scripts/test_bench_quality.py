"""Smoke test of scripts/bench_quality.py: a few steps, scored and tuned on val, and scored
with MOSES' metrics."""

import argparse
import gzip
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from typer.testing import CliRunner

from molgen.chem.properties import qed
from molgen.cli import app
from molgen.metrics import Reference
from molgen.metrics.moses import MOSES_TABLE_COLUMNS
from molgen.metrics.rings import RING_DEFINITIONS, ring_statistics_of_smiles, seeded_subset


def test_temperature_rule_lowest_fcd_or_best_vun_within_the_fcd_bound(module):
    grid = [
        {"atoms": 1.0, "bonds": 1.0, "fcd_val": 1.09, "vun": 0.52},
        {"atoms": 1.0, "bonds": 1.5, "fcd_val": 1.17, "vun": 0.60},
        {"atoms": 1.0, "bonds": 2.0, "fcd_val": 1.34, "vun": 0.68},
        {"atoms": 0.8, "bonds": 1.0, "fcd_val": 1.10, "vun": 0.50},
    ]
    assert module.choose_temperature(grid, None) == (1.0, 1.0)
    assert module.choose_temperature(grid, 1.2) == (1.0, 1.5)
    assert module.choose_temperature(grid, 2.0) == (1.0, 2.0)
    assert module.choose_temperature(grid, 1.0) == (1.0, 1.0)  # none within: lowest FCD


def test_sample_temperature_option_takes_two_positive_values(module):
    assert module.temperature_pair("1.0,1.5") == (1.0, 1.5)
    for bad in ("1.0", "1,2,3", "a,b", "0,1", "1,inf", "-1,1"):
        with pytest.raises(argparse.ArgumentTypeError):
            module.temperature_pair(bad)


@pytest.mark.slow  # trains twice and loads ChemNet for FCD (about 30 s)
def test_fixed_steps_are_scored_against_test_and_temperatures_chosen_on_val(
    module, tmp_path, capsys
):
    pytest.importorskip("fcd")
    module.ATOM_TEMPERATURES, module.BOND_TEMPERATURES = (1.0,), (1.0, 2.0)  # a small grid
    args = ["--steps", "4", "--intervals", "2", "-n", "64", "--tune-temperature"]
    args += ["--tune-samples", "32", "--config", "configs/debug.yaml", "--out", str(tmp_path)]
    args += [f"data.cache_dir={tmp_path / 'cache'}", "generator.constraint=valence_connected"]
    args += ["train.ema_decay=0.9", "train.max_minutes=1e-6"]  # --steps lifts the time cap
    rows = module.main(args)
    assert [r["step"] for r in rows] == [2, 4]
    run = tmp_path / "run"
    for split in ("train", "val", "test"):
        assert (run / f"{split}.smi").read_text().strip()
    for row in rows:
        assert "moses" not in row and "samples_per_s" not in row  # data.name is not moses
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
    args = ["--run", str(run), "-n", "64", "--sample-temperature", "1.0,2.0"]
    again = module.main([*args, "--out", str(tmp_path / "again")])
    assert (checkpoint.stat().st_mtime_ns, checkpoint.read_bytes()) == before
    assert [r["step"] for r in again] == [4] and math.isnan(again[0]["ms_per_step"])
    assert again[0]["validity_relaxed"] == 1.0
    assert json.loads((tmp_path / "again" / "quality.json").read_text())["rows"][0]["step"] == 4


def _moses_head(split: str, path: Path, lines: int) -> Path:
    """The first ``lines`` molecules of a MOSES split of the molsets wheel, as a SMILES file."""
    moses = pytest.importorskip("molgen.chem.moses")
    with gzip.open(moses.moses_file(f"dataset/data/{split}.csv.gz"), "rt") as f:
        next(f)  # the header SMILES
        path.write_text("".join(next(f) for _ in range(lines)))
    return path


def test_moses_figures_of_samples_and_of_a_test_set_beside_them(module, tmp_path, monkeypatch):
    # benzene, naphthalene and cyclooctane: 3 rings of 6, 6+6, 8 atoms, 3 of them aromatic
    samples = ["c1ccccc1", "c1ccc2ccccc2c1", "C1CCCCCCC1", None, "C1CC"]  # 2 invalid
    figures = module.sample_figures(samples)
    assert figures["aromatic_rings"] == pytest.approx(3 / 3)
    assert figures["large_ring_share"] == pytest.approx(1 / 3)
    assert figures["ring_size_hist"]["6"] == pytest.approx(3 / 4)
    assert figures["ring_size_hist"]["8+"] == pytest.approx(1 / 4)
    assert figures["qed"] == pytest.approx(
        np.mean([qed(Chem.MolFromSmiles(s)) for s in samples[:3]])
    )
    assert 1 <= figures["sa"] <= 10
    monkeypatch.setattr(module, "TEST_RING_MOLECULES", 2)  # a seeded subset of the test set
    test = Reference(["c1ccccc1", "CCO", "c1ccc2ccccc2c1", "C1CCCCCCC1"], cache_dir=tmp_path)
    test_figures = module.test_set_figures(test)
    assert test_figures["ring_molecules"] == 2
    subset = seeded_subset(test.canonical, 2)
    assert {k: test_figures[k] for k in RING_DEFINITIONS} == ring_statistics_of_smiles(subset)
    assert test_figures["qed"] == pytest.approx(
        np.mean([qed(Chem.MolFromSmiles(s)) for s in test.canonical])
    )
    line = module.figures_line(figures, test_figures)
    assert f"aromatic/mol=1.000 ({test_figures['aromatic_rings']:.3f})" in line
    assert "sizes 3/4/5/6/7/8+=0.00/0.00/0.00/0.75/0.00/0.25" in line


def test_moses_reference_files_need_the_moses_benchmark(module, tmp_path, capsys):
    args = ["--steps", "2", "--config", "configs/debug.yaml", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        module.main([*args, "--moses-test", str(tmp_path / "test.smi")])
    assert exit_info.value.code == 2
    assert "need --benchmark moses" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before training


@pytest.mark.slow  # trains twice, loads ChemNet, evaluates again through the CLI (about 40 s)
def test_moses_rows_equal_molgen_evaluate_on_the_same_samples(module, tmp_path, monkeypatch):
    pytest.importorskip("fcd")
    if importlib.util.find_spec("moses") is None:
        pytest.skip("molsets wheel not installed")  # Filters reads MOSES' SMARTS lists
    files = {
        "test": _moses_head("test", tmp_path / "test.smi", 200),
        "test-scaffolds": _moses_head("test_scaffolds", tmp_path / "testsf.smi", 200),
        "train": _moses_head("train", tmp_path / "train.smi", 500),
    }
    built = []
    references = module.moses_references
    monkeypatch.setattr(
        module, "moses_references", lambda *a, **k: built.append(a) or references(*a, **k)
    )
    cache = tmp_path / "cache"
    args = ["--steps", "4", "--intervals", "2", "-n", "64", "--benchmark", "moses"]
    args += ["--config", "configs/debug.yaml", "--out", str(tmp_path / "bench")]
    args += [arg for key, path in files.items() for arg in (f"--moses-{key}", str(path))]
    args += [f"data.cache_dir={cache}", "generator.constraint=valence_connected"]
    rows = module.main(args)
    assert len(built) == 1  # references built once for both rows
    assert [r["step"] for r in rows] == [2, 4]
    for row in rows:
        assert set(MOSES_TABLE_COLUMNS) <= row["moses"].keys()
        assert row["moses"]["valid"] == 1.0  # valence budgets: every sample sanitizes
        assert row["samples_per_s"] > 0
        assert set(module.MOSES_FIGURES) <= row.keys()
        assert math.isfinite(row["aromatic_rings"]) and 0 <= row["large_ring_share"] <= 1
    result = json.loads((tmp_path / "bench" / "quality.json").read_text())
    assert result["rows"][-1]["moses"].keys() == rows[-1]["moses"].keys()
    assert set(module.MOSES_FIGURES) <= result["rows"][-1].keys()
    test_figures = result["moses_test_figures"]
    assert test_figures["ring_molecules"] == 200  # the whole (small) test file
    assert test_figures["aromatic_rings"] == pytest.approx(
        ring_statistics_of_smiles(files["test"].read_text().split())["aromatic_rings"]
    )
    assert result["moses_references"]["test"] == str(files["test"])
    # The last row (seed 1) scored the checkpoint that is on disk: evaluate draws the same
    # samples from it and scores them with fresh references and an empty cache.
    out = tmp_path / "report.json"
    cli = ["evaluate", str(tmp_path / "bench" / "run"), "--benchmark", "moses", "-n", "64"]
    cli += ["--seed", "1", "--out", str(out), "--cache-dir", str(tmp_path / "cache2")]
    cli += ["--no-progress", "-j", "1"]
    cli += [arg for key, path in files.items() for arg in (f"--{key}", str(path))]
    result = CliRunner().invoke(app, cli)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    for key, value in rows[-1]["moses"].items():
        assert value == pytest.approx(report[key], rel=1e-6, nan_ok=True), key
