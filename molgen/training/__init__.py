"""Training loop, checkpoints, sampling from checkpoints."""

from molgen.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from molgen.training.sampling import (
    Run,
    load_generator,
    load_reference_smiles,
    load_run,
    sample_smiles,
)
from molgen.training.trainer import TRAIN_METRICS, TrainingDiverged, train

__all__ = [
    "TRAIN_METRICS",
    "CheckpointError",
    "Run",
    "TrainingDiverged",
    "load_checkpoint",
    "load_generator",
    "load_reference_smiles",
    "load_run",
    "sample_smiles",
    "save_checkpoint",
    "train",
]
