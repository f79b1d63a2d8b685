"""Writing files so that a reader never sees a partial one, alone or as a set."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

__all__ = ["StagedFiles", "atomic_write"]


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


class StagedFiles:
    """A set of files written under temporary names and moved into place together.

    :meth:`path` gives the temporary name of a final path (``.STEM.PID.partial.SUFFIX`` in the
    same folder, so a writer that picks a format by suffix still does); :meth:`commit` fsyncs
    the files written and renames each over its final path, one after another with nothing in
    between, and removes the final paths of ``paths`` that were not written this time, so the
    files on disk are one complete set. Leaving the ``with`` block without a commit (an error, Ctrl-C)
    removes the temporary files and leaves the previous set untouched. Temporary files of an
    earlier process that was killed are removed when the next set for the same paths starts.
    """

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self._staged: dict[Path, Path] = {}
        for final in self.paths:
            for orphan in final.parent.glob(f".{final.stem}.*.partial{final.suffix}"):
                orphan.unlink(missing_ok=True)

    def path(self, final: str | Path) -> Path:
        final = Path(final)
        if final not in self.paths:
            raise ValueError(f"{final} is not one of the staged paths {self.paths}")
        final.parent.mkdir(parents=True, exist_ok=True)
        staged = final.with_name(f".{final.stem}.{os.getpid()}.partial{final.suffix}")
        self._staged[final] = staged
        return staged

    def commit(self) -> None:
        written = {final: staged for final, staged in self._staged.items() if staged.is_file()}
        for staged in written.values():
            with open(staged, "rb") as f:
                os.fsync(f.fileno())
        for final, staged in written.items():
            os.replace(staged, final)
        for final in self.paths:
            if final not in written and final.is_file():
                final.unlink()
        for folder in {final.parent for final in self.paths}:
            _fsync_folder(folder)
        self._staged.clear()

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, *exc) -> None:
        for staged in self._staged.values():
            staged.unlink(missing_ok=True)
        self._staged.clear()
