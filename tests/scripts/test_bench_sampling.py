"""Smoke test of scripts/bench_sampling.py: both configs, both bond heads, a few samples."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_sampling.py"


def test_rates_and_bond_head_sizes_for_qm9_and_moses(capsys):
    spec = importlib.util.spec_from_file_location("bench_sampling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["-n", "8", "--batch-size", "4", "generator.bond_embedding_dim=16"])
    assert [(r["config"], r["bond_head"]) for r in rows] == [
        ("qm9", "linear"),
        ("qm9", "pairwise"),
        ("moses", "linear"),
        ("moses", "pairwise"),
    ]
    hidden, d = 512, 16  # both configs' generator.hidden ends with 512
    for row in rows:
        n, a, r = row["N"], row["A"], row["R"]
        if row["bond_head"] == "linear":
            expected = (hidden + 1) * r * n * (n - 1) // 2
        else:  # node embedding, atom embedding, readout (2d -> d -> R)
            expected = (hidden + 1) * n * d + a * d + (2 * d + 1) * d + (d + 1) * r
        assert row["bond_head_params"] == expected
        assert row["graphs_per_s"] > 0 and row["smiles_per_s"] > 0
    assert (rows[0]["N"], rows[2]["N"]) == (9, 27)
    assert "graphs/s" in capsys.readouterr().out
