"""Checkpoints: a dict of plain types and tensors, written atomically, read with weights_only.

A checkpoint holds everything a run needs to continue exactly: model and optimiser states, the
temperature schedule, the step, every RNG state, the vocabulary and the resolved config (as JSON
types, never pickled objects), so ``torch.load(..., weights_only=True)`` reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from molgen.errors import MolgenError
from molgen.io import atomic_write

__all__ = [
    "CHECKPOINT_NAME",
    "CheckpointError",
    "find_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = "molgen.checkpoint/1"


class CheckpointError(MolgenError, RuntimeError):
    """A checkpoint that is missing, unreadable, or not a molgen checkpoint."""


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write ``state`` to ``path`` atomically: a crash mid-write leaves the old file intact."""
    return atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))


def find_checkpoint(path: str | Path) -> Path:
    """Accept a run directory (holding ``checkpoint.pt``) or a checkpoint file."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; errors name the file."""
    path = find_checkpoint(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/garbled files
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a molgen checkpoint (expected format {FORMAT!r})")
    return state
