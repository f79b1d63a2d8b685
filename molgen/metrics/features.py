"""Per-molecule features of canonical SMILES, computed on the process pool: what the metrics
and the reference statistics are made of.

A feature is one of :data:`molgen.chem.properties.FEATURES` (RDKit), one of
:data:`CHEMNETS` (the ChemNet activations of the FCD: :data:`CHEMNET` as the ``fcd`` package
encodes SMILES, :data:`CHEMNET_MOSES` as MOSES' ``fcd_torch`` does) or :data:`NSPDK` (the
molecule's NSPDK vector, :func:`molgen.metrics.nspdk.nspdk_vector` of its
:func:`~molgen.chem.labelled.labelled_graph`). Every feature of a
molecule depends on that molecule alone, so splitting a list over processes changes no value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from functools import partial

import numpy as np

from molgen.chem.labelled import labelled_graphs
from molgen.chem.properties import compute_features
from molgen.metrics import frechet
from molgen.metrics.nspdk import nspdk_vector
from molgen.metrics.similarity import max_tanimoto
from molgen.parallel import ProcessPool

__all__ = [
    "CHEMNET",
    "CHEMNETS",
    "CHEMNET_MOSES",
    "KL_MAX_MOLECULES",
    "NSPDK",
    "concat",
    "count_items",
    "features",
    "kl_subset",
    "kl_table",
]

CHEMNET = "chemnet"  # the ChemNet activations: a per-molecule feature like the RDKit ones
CHEMNET_MOSES = "chemnet_moses"
#: Each ChemNet feature and its :data:`molgen.metrics.frechet.ENCODINGS` entry.
CHEMNETS = {CHEMNET: "fcd", CHEMNET_MOSES: "fcd_torch"}
#: The NSPDK vector of a molecule: a list of sparse ``(indices, values)`` pairs.
NSPDK = "nspdk"
KL_MAX_MOLECULES = 10_000
KL_SEED = 42
#: GuacaMol's KL score features: the 9 descriptors and the 4096-bit fingerprints.
KL_FEATURES = ("kl_descriptors", "morgan4096")


def _molecule_features(canonical: Sequence[str], names: tuple[str, ...]) -> dict:
    """``compute_features`` for the RDKit names, ChemNet activations for :data:`CHEMNETS`,
    NSPDK vectors for :data:`NSPDK`."""
    rdkit_names = [name for name in names if name not in CHEMNETS and name != NSPDK]
    out = compute_features(canonical, rdkit_names) if rdkit_names else {}
    for name in names:
        if name in CHEMNETS:
            out[name] = frechet.chemnet_activations(canonical, encoding=CHEMNETS[name])
        elif name == NSPDK:
            out[name] = [nspdk_vector(graph) for graph in labelled_graphs(canonical)]
    return out


def features(pool: ProcessPool, canonical: Sequence[str], names: Collection[str]) -> dict:
    """``{name: values}`` for the canonical SMILES, computed in parallel parts and joined back
    in order (arrays concatenated, lists chained)."""
    names = tuple(sorted(names))
    if not names:  # counting metrics only: nothing to parse again
        return {}
    parts = pool.map(partial(_molecule_features, names=names), list(canonical), min_part=2)
    return {name: concat([part[name] for part in parts]) for name in names}


def concat(parts: list) -> np.ndarray | list:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [item for part in parts for item in part]


def count_items(values: Sequence, weights: np.ndarray) -> Counter:
    """Weighted counts of scaffolds (str or None, None dropped) or fragment lists."""
    counts: Counter = Counter()
    for value, weight in zip(values, weights, strict=True):
        if value is None:
            continue
        for item in [value] if isinstance(value, str) else value:
            counts[item] += int(weight)
    return counts


def kl_subset(n: int) -> np.ndarray:
    """Indices of GuacaMol's seeded subset of at most :data:`KL_MAX_MOLECULES` of ``n``."""
    if n <= KL_MAX_MOLECULES:
        return np.arange(n)
    return np.sort(np.random.default_rng(KL_SEED).choice(n, KL_MAX_MOLECULES, replace=False))


def kl_table(feats: dict) -> np.ndarray:
    """``float64[n, 10]``: the 9 KL descriptors and the internal similarity (max Tanimoto to
    another molecule of the set)."""
    fps = feats["morgan4096"]
    internal = max_tanimoto(fps, fps, exclude_self=True) if len(fps) else np.zeros(0)
    return np.column_stack([feats["kl_descriptors"], internal])
