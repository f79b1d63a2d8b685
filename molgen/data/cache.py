"""On-disk cache of processed datasets, keyed by what they were built from.

The key hashes the bytes of every source file and the settings that shape the tensors (format
version, vocabulary, ``max_atoms``, ...), so a changed file or vocabulary builds a new entry. An
entry is written atomically (:func:`molgen.io.atomic_write`), loaded with
``torch.load(weights_only=True)`` and checked against a checksum of its contents: a file that
does not load or does not match is rebuilt with a warning, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from molgen.io import atomic_write, remove_stale_temporaries

__all__ = ["cache_key", "content_checksum", "load_entry", "save_entry"]

#: Bump when the layout of an entry or the meaning of its tensors changes.
FORMAT_VERSION = 2  # 2: canonical SMILES without explicit hydrogens and atom maps
#: An entry's fields and their types; the checksum covers only SMILES and tensors.
ENTRY_FIELDS = {
    "key": str,
    "smiles": list,
    "x": torch.Tensor,
    "adj": torch.Tensor,
    "checksum": str,
    "report": dict,
    "vocab": dict,
}


def cache_key(files: Sequence[Path], settings: dict[str, Any]) -> str:
    """SHA-256 over the format version, the JSON of ``settings`` and each file's bytes."""
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT_VERSION, settings], sort_keys=True, default=str).encode())
    for path in files:
        file_digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                file_digest.update(chunk)
        digest.update(file_digest.digest())
    return digest.hexdigest()


def content_checksum(smiles: Sequence[str], tensors: Sequence[torch.Tensor]) -> str:
    """SHA-256 over SMILES and tensor bytes: detects an entry altered after it was written."""
    digest = hashlib.sha256("\n".join(smiles).encode())
    for tensor in tensors:
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_entry(path: Path, entry: dict[str, Any]) -> None:
    """Write ``entry`` (plain types and tensors) to ``path`` atomically."""
    atomic_write(path, lambda f: torch.save(entry, f))


def load_entry(
    path: Path,
    key: str,
    fields: Mapping[str, type] = ENTRY_FIELDS,
    tensors: Sequence[str] = ("x", "adj"),
) -> dict[str, Any] | None:
    """The entry at ``path`` when it exists, loads, has every field of ``fields`` (name ->
    type; the atom datasets' :data:`ENTRY_FIELDS` by default), has ``key`` and matches its
    checksum (of its SMILES and the tensors named in ``tensors``); otherwise None (with a warning naming the file and
    what is wrong when a file was there but could not be trusted). Temporaries that killed
    writers left in the folder are removed first."""
    for tmp in remove_stale_temporaries(path.parent) if path.parent.is_dir() else []:
        warnings.warn(f"removed {tmp}, left by an interrupted write", stacklevel=3)
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, weights_only=True)
        if not isinstance(entry, dict):
            raise ValueError(f"holds a {type(entry).__name__}, not a dict")
        for field, kind in fields.items():
            if not isinstance(entry.get(field), kind):
                found = "missing" if field not in entry else type(entry[field]).__name__
                raise ValueError(f"field {field!r} is {found}, not {kind.__name__}")
        if entry["key"] != key:
            raise ValueError("key differs")
        checksum = content_checksum(entry["smiles"], [entry[name] for name in tensors])
        if entry["checksum"] != checksum:
            raise ValueError("checksum differs")
    except Exception as exc:  # any failure to load means the file cannot be trusted
        warnings.warn(f"rebuilding the dataset cache {path}: {exc}", stacklevel=3)
        return None
    return entry
