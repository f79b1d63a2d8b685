"""Reading SMILES and CSV files as they are: gzip transparently, line by line, every byte kept.

A line that is not UTF-8 or holds characters no SMILES has is one bad sample or record, never a
crash and never silently repaired (:func:`molgen.chem.mol.text_problem` names it).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from molgen.errors import InputError

__all__ = ["GZIP_MAGIC", "first_field", "open_text", "read_lines", "read_smiles_file"]

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
