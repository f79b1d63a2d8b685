"""Ring statistics of a set of molecules: how many aromatic rings a molecule carries, how ring
sizes are spread, how many molecules have a ring of 8 or more atoms. Kekulized bonds drawn pair
by pair rarely close an aromatic ring, and MOSES' filters reject a ring of 8+ atoms, so these
figures, beside a test set's, show what a generator's rings owe to its representation.

Each figure is a ratio of :class:`~molgen.chem.properties.RingCounts` (RDKit's ring perception,
summed over molecules, duplicates included as given); :data:`RING_DEFINITIONS` words them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from molgen.chem.moses import MOSES_MAX_RING
from molgen.chem.properties import RING_SIZE_BINS, RingCounts, ring_counts

__all__ = [
    "RING_DEFINITIONS",
    "RING_SIZE_LABELS",
    "ring_statistics",
    "ring_statistics_of_smiles",
    "seeded_subset",
]

#: Keys of :data:`ring_size_hist`'s bins: ``"3"`` .. ``"7"`` and ``"8+"``.
RING_SIZE_LABELS = tuple(
    f"{size}+" if size == MOSES_MAX_RING else str(size) for size in RING_SIZE_BINS
)

RING_DEFINITIONS = {
    "aromatic_rings": "aromatic rings per molecule: rings of RDKit's ring perception "
    "(mol.GetRingInfo(), symmetrized SSSR) whose bonds are all aromatic (RDKit's "
    "NumAromaticRings), summed over the molecules / their number",
    "ring_size_hist": "share of the molecules' rings (RDKit's ring perception) with 3, 4, 5, 6, 7 "
    "and 8 or more atoms (keys '3' .. '7', '8+'); the shares sum to 1 (NaN without rings)",
    "large_ring_share": "share of the molecules with a ring of 8 or more atoms (those MOSES' "
    "filters reject for it)",
}


def ring_statistics(counts: RingCounts) -> dict[str, float | dict[str, float]]:
    """The :data:`RING_DEFINITIONS` figures of summed ring counts (NaN where a denominator is
    0)."""
    molecules, rings = counts.molecules, counts.rings
    return {
        "aromatic_rings": counts.aromatic_rings / molecules if molecules else math.nan,
        "ring_size_hist": {
            label: n / rings if rings else math.nan
            for label, n in zip(RING_SIZE_LABELS, counts.rings_by_size, strict=True)
        },
        "large_ring_share": counts.with_large_ring / molecules if molecules else math.nan,
    }


def seeded_subset(items: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """At most ``n`` of ``items``, drawn without replacement by a seeded generator, in their
    order (all of them when there are no more than ``n``)."""
    if len(items) <= n:
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), n, replace=False))
    return [items[i] for i in keep]


def ring_statistics_of_smiles(smiles: Sequence[str]) -> dict[str, float | dict[str, float]]:
    """:func:`ring_statistics` of the molecules of ``smiles`` (each must parse; see
    :func:`~molgen.chem.properties.ring_counts`)."""
    return ring_statistics(ring_counts(smiles))
