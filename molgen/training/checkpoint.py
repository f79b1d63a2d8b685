"""Checkpoints: a dict of plain types and tensors, written atomically, read with weights_only.

A checkpoint holds everything a run needs to continue exactly: model and optimiser states, the
temperature schedule, the step, every RNG state, the vocabulary and the resolved config (as JSON
types, never pickled objects), so ``torch.load(..., weights_only=True)`` reads it. It records
the molgen version that wrote it, named in every error about its contents.

An exported generator (:data:`GENERATOR_FORMAT`, ``molgen export``) is the same kind of file
holding only what sampling needs; it can be sampled and evaluated, never resumed.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

import molgen
from molgen.errors import MolgenError
from molgen.io import atomic_write

__all__ = [
    "CHECKPOINT_NAME",
    "FORMAT",
    "GENERATOR_FORMAT",
    "CheckpointError",
    "check_entries",
    "find_checkpoint",
    "load_checkpoint",
    "load_part",
    "save_checkpoint",
]

CHECKPOINT_NAME = "checkpoint.pt"
#: The format of a training checkpoint, one to continue from.
FORMAT = "molgen.checkpoint/1"
#: The format of an exported generator: weights, vocabulary, config and tau, for sampling only.
GENERATOR_FORMAT = "molgen.generator/1"


class CheckpointError(MolgenError, RuntimeError):
    """A checkpoint that is missing, unreadable, or not a molgen checkpoint."""


def _tensors(value: Any, key: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield key, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _tensors(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _tensors(v, f"{key}[{i}]")


def save_checkpoint(state: dict[str, Any], path: Path, *, file_format: str = FORMAT) -> Path:
    """Write ``state`` to ``path`` atomically: a crash mid-write leaves the old file intact.
    ``file_format`` is :data:`FORMAT`, or :data:`GENERATOR_FORMAT` for an exported generator.

    Refuses (:class:`CheckpointError`, the old file kept) a state with a NaN or infinite value
    in any floating-point tensor: a checkpoint is always one to continue from."""
    for key, tensor in _tensors(state, ""):
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(
                f"not writing {path}: {key} holds NaN or infinite values (the previous "
                "checkpoint, if any, is kept)"
            )
    content = {**state, "format": file_format, "molgen_version": molgen.__version__}
    return atomic_write(path, lambda f: torch.save(content, f))


def find_checkpoint(path: str | Path) -> Path:
    """Accept a run directory (holding ``checkpoint.pt``) or a checkpoint file."""
    path = Path(path)
    if path.is_dir():
        if not (path / CHECKPOINT_NAME).is_file():
            raise CheckpointError(f"no checkpoint at {path}: a folder without {CHECKPOINT_NAME}")
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    return path


def _summary(error: BaseException) -> str:
    # torch's messages run to several lines of advice; the first sentence says what happened
    text = " ".join(str(error).split())
    return text.split(". ")[0][:200] or type(error).__name__


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    *,
    formats: tuple[str, ...] = (FORMAT,),
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` in one of ``formats`` (a training
    checkpoint by default); errors name the file and what is wrong with it. Never unpickles: a
    file that needs Python objects built is refused."""
    path = find_checkpoint(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        with f, warnings.catch_warnings():  # e.g. torch's note on a pickle protocol
            if os.fstat(f.fileno()).st_size == 0:
                raise CheckpointError(f"{path}: not a readable checkpoint (the file is empty)")
            warnings.simplefilter("ignore")
            state = torch.load(f, map_location=map_location, weights_only=True)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: not a readable checkpoint (it holds Python objects that only unpickling "
            f"could build, and molgen never unpickles: {_summary(exc)})"
        ) from exc
    except Exception as exc:  # torch raises several types for truncated/garbled files
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {_summary(exc)})"
        ) from exc
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: not a molgen checkpoint (it holds a {type(state).__name__}, not a dict)"
        )
    found = state.get("format")
    expected = " or ".join(map(repr, formats))
    if found in formats:
        return state
    if found == GENERATOR_FORMAT:
        raise CheckpointError(
            f"{path}: a generator exported for sampling (molgen export), not a training "
            "checkpoint: it can be sampled and evaluated, not trained further"
        )
    if isinstance(found, str) and found.startswith(("molgen.checkpoint/", "molgen.generator/")):
        raise CheckpointError(
            f"{path}: format {found!r} ({written_by(state)}); this molgen "
            f"({molgen.__version__}) reads {expected}: use the molgen "
            "that wrote it"
        )
    raise CheckpointError(f"{path}: not a molgen checkpoint (expected format {expected})")


def written_by(state: Mapping[str, Any]) -> str:
    """Which molgen wrote a checkpoint, as far as it says."""
    version = state.get("molgen_version")
    if isinstance(version, str):
        return f"written by molgen {version}"
    return "written by a molgen older than 0.1.0, which did not record its version"


def check_entries(
    state: Mapping[str, Any], entries: Mapping[str, type | tuple[type, ...]], path: Path
) -> None:
    """Raise :class:`CheckpointError` naming ``path`` and the first entry of ``entries``
    (key -> allowed types) that ``state`` lacks or holds with another type."""
    for key, types in entries.items():
        allowed = types if isinstance(types, tuple) else (types,)
        if key not in state:
            raise CheckpointError(f"{path}: no {key!r} entry ({written_by(state)})")
        value = state[key]
        # bool is an int to isinstance; a checkpoint never holds one where a number belongs
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            names = " or ".join(t.__name__ for t in allowed)
            raise CheckpointError(
                f"{path}: entry {key!r} is a {type(value).__name__}, not {names} "
                f"({written_by(state)})"
            )


def load_part(
    part: torch.nn.Module | Any, state: Mapping[str, Any], key: str, path: Path | None = None
) -> None:
    """``part.load_state_dict(state[key])`` after checking what it holds: for a module, the
    same tensor names, shapes and dtypes as ``part``'s. Errors (:class:`CheckpointError`) name
    the file (when given), the tensor and what differs, and which molgen wrote the file."""
    where = f"{path}: " if path is not None else ""

    def fail(detail: str) -> CheckpointError:
        return CheckpointError(f"{where}{detail} ({written_by(state)})")

    saved = state.get(key)
    if not isinstance(saved, Mapping):
        raise fail(f"entry {key!r} is {'missing' if saved is None else type(saved).__name__}")
    if isinstance(part, torch.nn.Module):
        expected = part.state_dict()
        missing = [name for name in expected if name not in saved]
        unexpected = [name for name in saved if name not in expected]
        if missing or unexpected:
            detail = ", ".join(
                [f"lacks {key}.{n}" for n in missing[:3]]
                + [f"has {key}.{n}, which this model does not" for n in unexpected[:3]]
            )
            raise fail(f"{key} does not fit this molgen's model: {detail}")
        for name, tensor in expected.items():
            value = saved[name]
            if not isinstance(value, torch.Tensor):
                raise fail(f"{key}.{name} is a {type(value).__name__}, not a tensor")
            if value.shape != tensor.shape:
                raise fail(
                    f"{key}.{name} has shape {tuple(value.shape)} where this molgen's model has "
                    f"{tuple(tensor.shape)}"
                )
            if value.dtype != tensor.dtype:
                raise fail(f"{key}.{name} has dtype {value.dtype}, not {tensor.dtype}")
    try:
        part.load_state_dict(saved)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise fail(f"{key} cannot be loaded: {_summary(exc)}") from exc
