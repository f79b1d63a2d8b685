"""Training loop, run folders and their checkpoints, sampling from a run; molecules, or graphs
without chemistry (:mod:`molgen.training.graphs`)."""

from molgen.training.run import (
    CheckpointError,
    Run,
    export_generator,
    is_run,
    load_checkpoint,
    load_run,
    save_checkpoint,
)
from molgen.training.sampling import iter_samples
from molgen.training.steps import TrainingDiverged
from molgen.training.trainer import TRAIN_METRICS, train

__all__ = [
    "TRAIN_METRICS",
    "CheckpointError",
    "Run",
    "TrainingDiverged",
    "export_generator",
    "is_run",
    "iter_samples",
    "load_checkpoint",
    "load_run",
    "save_checkpoint",
    "train",
]
