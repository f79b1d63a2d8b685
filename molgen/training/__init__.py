"""Training loop, checkpoints, sampling from checkpoints."""

from molgen.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from molgen.training.sampling import load_generator, load_reference_smiles, sample_smiles
from molgen.training.trainer import TRAIN_METRICS, TrainingDiverged, train

__all__ = [
    "TRAIN_METRICS",
    "CheckpointError",
    "TrainingDiverged",
    "load_checkpoint",
    "load_generator",
    "load_reference_smiles",
    "sample_smiles",
    "save_checkpoint",
    "train",
]
