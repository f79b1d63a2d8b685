"""Reading SMILES and CSV files as they are: gzip transparently, line by line, every byte kept.

A line that is not UTF-8 or holds characters no SMILES has is one bad sample or record, never a
crash and never silently repaired (:func:`molgen.chem.mol.text_problem` names it). Memory stays
bounded whatever the file holds: a line is read up to :data:`MAX_LINE_BYTES` and the rest of it
skipped (a longer SMILES is invalid, ``"too_long"``), and a CSV field may not exceed that size.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from molgen.errors import InputError

__all__ = [
    "GZIP_MAGIC",
    "MAX_CSV_RECORD",
    "MAX_LINE_BYTES",
    "BoundedLines",
    "FileChangedWarning",
    "first_field",
    "open_text",
    "read_lines",
    "read_smiles_file",
]

#: The first two bytes of every gzip file (RFC 1952).
GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"
#: The longest line (and CSV field) read whole, in bytes; a longer line is read up to one byte
#: more, so that it stays longer than :data:`molgen.chem.mol.MAX_SMILES_LENGTH` (the same
#: number), and its rest is skipped unread into memory.
MAX_LINE_BYTES = 100_000
#: The longest CSV record (its lines together) read, in characters: a CSV row holds more than a
#: SMILES (qm9pack's hold coordinates and frequencies), so its bound is wider.
MAX_CSV_RECORD = 16 << 20
#: Bytes read at a time while skipping the rest of an over-long line.
_SKIP_CHUNK = 1 << 20


class FileChangedWarning(UserWarning):
    """A file changed (size or modification time) while it was read: what was counted may not
    match any one version of it."""


def _open_binary(path: Path) -> BinaryIO:
    """``path`` for reading bytes; gzip data (recognised by :data:`GZIP_MAGIC`, whatever the
    file's name) is decompressed."""
    return _decompressed(open(path, "rb"))  # noqa: SIM115 (returned to the caller, who closes it)


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
    is unaffected. A line longer than :data:`MAX_LINE_BYTES` is cut to its first
    ``MAX_LINE_BYTES + 1`` bytes (its first field, when that is shorter, is still the line's)
    and the rest is skipped without being held in memory.

    Warns (:class:`FileChangedWarning`) when the file's size or modification time changed
    while it was read, e.g. it was truncated or rewritten meanwhile. Raises InputError naming
    the file for corrupt gzip data."""
    path = Path(path)
    with _named_errors(path), open(path, "rb") as raw_file, _decompressed(raw_file) as f:
        before = os.fstat(raw_file.fileno())
        number = 0
        while raw := f.readline(MAX_LINE_BYTES + 1):
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                _skip_rest_of_line(f)
            line = raw.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8", "surrogateescape")
            yield line.removeprefix(_BOM) if number == 0 else line
            number += 1
        _warn_if_changed(path, before, raw_file.fileno())


def _decompressed(f: BinaryIO) -> BinaryIO:
    """``f`` itself, or a gzip reader over it when it starts with :data:`GZIP_MAGIC`."""
    magic = f.read(2)
    f.seek(0)
    return gzip.GzipFile(fileobj=f, mode="rb") if magic == GZIP_MAGIC else f


def _skip_rest_of_line(f: BinaryIO) -> None:
    while (chunk := f.readline(_SKIP_CHUNK)) and not chunk.endswith(b"\n"):
        pass


def _warn_if_changed(path: Path, before: os.stat_result, fd: int) -> None:
    after = os.fstat(fd)
    try:  # the name may now be another file (rewritten and renamed over)
        now = os.stat(path)
    except OSError:
        now = after
    for current in (after, now):
        if (current.st_size, current.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            warnings.warn(
                f"{path} changed while it was read (size {before.st_size} -> "
                f"{current.st_size} bytes): the counts may not match any one version of it",
                FileChangedWarning,
                stacklevel=3,
            )
            return


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


class BoundedLines:
    """The lines of a text file for :func:`csv.reader`, so that one record never takes more
    than ``limit`` characters of memory: each is read up to what is left of ``limit`` for the
    current record (the lines since :meth:`new_record`), and a record longer than that raises
    :class:`csv.Error` (the reader's own error for a broken file)."""

    def __init__(self, f: TextIO, limit: int = MAX_CSV_RECORD) -> None:
        self._file = f
        self._limit = limit
        self._used = 0

    def new_record(self) -> None:
        """Start counting a new record's characters."""
        self._used = 0

    def __iter__(self) -> BoundedLines:
        return self

    def __next__(self) -> str:
        line = self._file.readline(self._limit - self._used + 1)
        if not line:
            raise StopIteration
        self._used += len(line)
        if self._used > self._limit:
            raise csv.Error(f"a record longer than {self._limit:,} characters")
        return line


def first_field(line: str) -> str:
    """The sample of a line: its first field, fields being separated by ASCII spaces and tabs
    (a name may follow); "" for a blank line. Every other character belongs to the field."""
    for field in line.replace("\t", " ").split(" "):
        if field:
            return field
    return ""


def read_smiles_file(path: str | Path) -> Iterator[str]:
    """Stream the samples of a SMILES file, one per line, gzip-compressed or not (recognised by
    its first bytes, whatever its name).

    A line's sample is its first field (:func:`first_field`: fields are separated by
    ASCII spaces and tabs, a name may follow), the line read by :func:`read_lines`
    (``\\n`` or ``\\r\\n`` removed; bytes that are not UTF-8 kept as lone surrogates). A blank
    line is the sample "" (invalid, ``"empty"``); a sample with a byte that is not UTF-8 is
    invalid (``"encoding"``), one with any other character outside printable ASCII too
    (``"characters"``: NUL, control bytes, non-ASCII letters), so a bad line is one invalid
    sample and never stops the run.

    Raises InputError naming the file when it is missing, not a file, empty, or corrupt gzip.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file, no SMILES to read")
    return _first_fields(path)


def _first_fields(path: Path) -> Iterator[str]:
    empty = True
    for line in read_lines(path):
        empty = False
        yield first_field(line)
    if empty:  # e.g. a gzip file of nothing
        raise InputError(f"{path}: no lines, no SMILES to read")
