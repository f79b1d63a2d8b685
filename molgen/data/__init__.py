"""The data pipeline: SMILES sources -> filtered, reported, cached, split dense-graph datasets;
and generic graphs without chemistry (:mod:`molgen.data.graphs`).

The names below are imported on first access, so ``molgen.data.graphs`` (and anything else
that needs no molecules) imports no RDKit.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DATASETS",
    "FragmentSplit",
    "GraphSplit",
    "LoadReport",
    "MolDataset",
    "Record",
    "bundled_path",
    "load_dataset",
    "load_molecule_dataset",
    "moses_train_file",
    "qm9pack_files",
    "read_moses",
    "read_qm9pack",
    "read_smiles",
]

_DATASET_NAMES = ("GraphSplit", "LoadReport", "MolDataset", "load_dataset")
_FRAGMENT_NAMES = ("FragmentSplit", "load_molecule_dataset")
#: Each public name and the module that defines it.
_LAZY = {
    name: "molgen.data.dataset"
    if name in _DATASET_NAMES
    else "molgen.data.fragments"
    if name in _FRAGMENT_NAMES
    else "molgen.data.sources"
    for name in __all__
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'molgen.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
