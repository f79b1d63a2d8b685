"""Reading input files (gzip transparently, line by line, bad bytes kept as bad samples) and
writing files so that a reader never sees a partial one, alone or as a set."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from molgen.errors import InputError

__all__ = ["StagedFiles", "atomic_write", "first_field", "open_text", "read_lines"]

#: The first two bytes of every gzip file (RFC 1952).
GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"


def _open_binary(path: Path) -> BinaryIO:
    """``path`` for reading bytes; gzip data (recognised by :data:`GZIP_MAGIC`, whatever the
    file's name) is decompressed."""
    f = open(path, "rb")  # noqa: SIM115 (returned to the caller, who closes it)
    if f.read(2) == GZIP_MAGIC:
        f.seek(0)
        return gzip.GzipFile(fileobj=f, mode="rb")
    f.seek(0)
    return f


@contextlib.contextmanager
def _named_errors(path: Path) -> Iterator[None]:
    """A corrupt gzip stream or a failing read becomes an InputError naming the file."""
    try:
        yield
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_lines(path: str | Path) -> Iterator[str]:
    """The lines of a text file, gzip-compressed or not, lazily: each without its ``\\n`` and a
    ``\\r`` before it (a UTF-8 byte-order mark at the start is dropped), decoded as UTF-8 with
    every byte that is not UTF-8 kept as a lone surrogate U+DC80..U+DCFF (Python's
    ``surrogateescape``), so that such a line reads as one bad line and the rest of the file
    is unaffected. Raises InputError naming the file for corrupt gzip data."""
    path = Path(path)
    with _named_errors(path), _open_binary(path) as f:
        for number, raw in enumerate(f):
            line = raw.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8", "surrogateescape")
            yield line.removeprefix(_BOM) if number == 0 else line


@contextlib.contextmanager
def open_text(path: str | Path) -> Iterator[TextIO]:
    """``path`` as a text file for :mod:`csv` (``newline=""``), gzip-compressed or not, decoded
    as :func:`read_lines` decodes; read errors and corrupt gzip data raise InputError naming
    the file."""
    path = Path(path)
    with (
        _named_errors(path),
        io.TextIOWrapper(
            _open_binary(path), encoding="utf-8-sig", errors="surrogateescape", newline=""
        ) as f,
    ):
        yield f


def first_field(line: str) -> str:
    """The sample of a line: its first field, fields being separated by ASCII spaces and tabs
    (a name may follow); "" for a blank line. Every other character belongs to the field."""
    for field in line.replace("\t", " ").split(" "):
        if field:
            return field
    return ""


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
