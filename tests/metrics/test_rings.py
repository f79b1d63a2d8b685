import math

import pytest

from molgen.chem.properties import RingCounts
from molgen.metrics.rings import (
    RING_DEFINITIONS,
    RING_SIZE_LABELS,
    ring_statistics,
    ring_statistics_of_smiles,
    seeded_subset,
)


def test_ring_statistics_of_hand_counted_molecules():
    # benzene (one 6-ring, aromatic), naphthalene (two), cyclooctane (one 8-ring), ethanol,
    # a 15-membered lactone: 5 molecules, 5 rings, 3 of them aromatic
    smiles = ["c1ccccc1", "c1ccc2ccccc2c1", "C1CCCCCCC1", "CCO", "O=C1CCCCCCCCCCCCCO1"]
    stats = ring_statistics_of_smiles(smiles)
    assert set(stats) == set(RING_DEFINITIONS)
    assert stats["aromatic_rings"] == pytest.approx(3 / 5)
    assert stats["large_ring_share"] == pytest.approx(2 / 5)
    assert list(stats["ring_size_hist"]) == ["3", "4", "5", "6", "7", "8+"]
    assert stats["ring_size_hist"] == pytest.approx(
        {"3": 0, "4": 0, "5": 0, "6": 3 / 5, "7": 0, "8+": 2 / 5}
    )


def test_duplicates_count_as_often_as_given():
    once = ring_statistics_of_smiles(["c1ccccc1", "CCO"])
    twice = ring_statistics_of_smiles(["c1ccccc1", "c1ccccc1", "CCO"])
    assert once["aromatic_rings"] == pytest.approx(1 / 2)
    assert twice["aromatic_rings"] == pytest.approx(2 / 3)


def test_ring_statistics_are_nan_without_molecules_or_rings():
    empty = ring_statistics(RingCounts())
    assert math.isnan(empty["aromatic_rings"]) and math.isnan(empty["large_ring_share"])
    acyclic = ring_statistics_of_smiles(["CCO", "CCN"])
    assert acyclic["aromatic_rings"] == 0 and acyclic["large_ring_share"] == 0
    assert all(math.isnan(v) for v in acyclic["ring_size_hist"].values())
    assert len(RING_SIZE_LABELS) == len(acyclic["ring_size_hist"])


def test_seeded_subset_is_fixed_ordered_and_without_repeats():
    items = [f"C{'C' * k}O" for k in range(100)]
    subset = seeded_subset(items, 30)
    assert subset == seeded_subset(items, 30)
    assert len(set(subset)) == 30 and set(subset) <= set(items)
    assert subset == sorted(subset, key=items.index)
    assert seeded_subset(items, 30, seed=1) != subset
    assert seeded_subset(items, 500) == items
