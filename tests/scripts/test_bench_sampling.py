"""Smoke test of scripts/bench_sampling.py: both configs, both bond heads or the chosen ones,
the configs' samplers or the chosen ones, a few samples."""

import argparse

import pytest


def test_rates_and_bond_head_sizes_for_qm9_and_moses(module, capsys):
    rows = module.main(["-n", "8", "--batch-size", "4", "generator.bond_embedding_dim=16"])
    assert [(r["config"], r["bond_head"]) for r in rows] == [
        ("qm9", "linear"),
        ("qm9", "pairwise"),
        ("moses_atoms", "linear"),
        ("moses_atoms", "pairwise"),
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


def test_chosen_samplers_and_heads_for_both_configs_as_ratios_to_the_first(module, capsys):
    samplers = "none,valence_connected+join,valence_connected+tree"
    args = ["-n", "8", "--batch-size", "4", "--bond-heads", "linear", "--constraints", samplers]
    rows = module.main(args)
    assert [(r["config"], r["N"], r["constraint"], r["bond_head"]) for r in rows] == [
        (config, n, constraint, "linear")
        for config, n in (("qm9", 9), ("moses_atoms", 27))
        for constraint in ("none", "valence_connected", "valence_connected")
    ]
    assert [r["connect"] for r in rows[1:3] + rows[4:6]] == ["join", "tree"] * 2
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[4] for line in out[2:]] == [
        "none",
        "valence_connected+join",
        "valence_connected+tree",
    ] * 2
    ratios = [float(line.split()[8]) for line in out[2:]]
    expected = [r["graphs_per_s"] / rows[0]["graphs_per_s"] for r in rows]
    assert ratios == pytest.approx(expected, abs=0.005)  # printed to 2 decimals
    assert ratios[0] == 1.0


def test_sampler_and_bond_head_lists_are_checked(module):
    assert module.sampler_overrides("valence,valence_connected+tree") == [
        ["generator.constraint=valence"],
        ["generator.constraint=valence_connected", "generator.connect=tree"],
    ]
    # the older name of the tree rule is still read
    assert (
        module.sampler_overrides("valence_connected+earlier")[0][1] == "generator.connect=earlier"
    )
    for bad in ("valence_connected+spanning", "connected", "none,"):
        with pytest.raises(argparse.ArgumentTypeError, match="CONSTRAINT"):
            module.sampler_overrides(bad)
    assert module.bond_heads("pairwise") == ["pairwise"]
    with pytest.raises(argparse.ArgumentTypeError, match="bond heads"):
        module.bond_heads("linear,bilinear")
