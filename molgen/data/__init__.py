"""The data pipeline: SMILES sources -> filtered, reported, cached, split dense-graph datasets."""

from molgen.data.dataset import GraphSplit, LoadReport, MolDataset, load_dataset
from molgen.data.fragments import FragmentSplit, load_graph_dataset
from molgen.data.sources import (
    DATASETS,
    Record,
    bundled_path,
    moses_train_file,
    qm9pack_files,
    read_moses,
    read_qm9pack,
    read_smiles,
)

__all__ = [
    "DATASETS",
    "FragmentSplit",
    "GraphSplit",
    "LoadReport",
    "MolDataset",
    "Record",
    "bundled_path",
    "load_dataset",
    "load_graph_dataset",
    "moses_train_file",
    "qm9pack_files",
    "read_moses",
    "read_qm9pack",
    "read_smiles",
]
