"""The data pipeline: SMILES sources -> filtered, reported, cached, split dense-graph datasets."""

from molgen.data.dataset import GraphSplit, LoadReport, MolDataset, load_dataset
from molgen.data.sources import Record, bundled_path, qm9pack_files, read_qm9pack, read_smiles

__all__ = [
    "GraphSplit",
    "LoadReport",
    "MolDataset",
    "Record",
    "bundled_path",
    "load_dataset",
    "qm9pack_files",
    "read_qm9pack",
    "read_smiles",
]
