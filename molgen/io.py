"""Writing files so that a reader never sees a partial one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` through ``write(f)`` on a binary file, atomically and durably.

    ``write`` fills a temporary file in the same folder (so the rename never crosses file
    systems); the file is flushed and fsynced, renamed over ``path`` and the folder fsynced, so
    after a crash ``path`` holds either the old or the new content, never a mix. On any failure
    the temporary file is removed and ``path`` is untouched. Concurrent writers of the same
    content are harmless: the last rename wins.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    # the rename is durable only once the folder's entry is on disk; Windows cannot open folders
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
