"""Where SMILES come from: SMILES/CSV files, the bundled QM9 sample, full QM9 from ``qm9pack``,
MOSES' training set from ``molsets``.

Every SMILES is read with its file and line number, so a bad line can be reported as
``file:line``. Files are only read here; parsing is :func:`molgen.chem.graph.mol_graphs`' job.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from molgen.chem.files import MAX_CSV_RECORD, BoundedLines, first_field, open_text, read_lines
from molgen.chem.moses import iter_moses_split, moses_split_file
from molgen.errors import InputError, MissingExtraError, MissingFileError

__all__ = [
    "BUNDLED",
    "DATASETS",
    "PACKAGED",
    "Record",
    "bundled_path",
    "moses_train_file",
    "qm9pack_files",
    "read_moses",
    "read_qm9pack",
    "read_smiles",
]

#: Bundled datasets (``data.name``) and their files, shipped inside the package (see the
#: folder's README.md for provenance).
BUNDLED = {"qm9_5k": "qm9_5k.smi"}
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"

_QM9PACK_PARTS = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
_QM9PACK_COLUMN = "SMILES"


class Record(NamedTuple):
    """One SMILES and where it was read: ``file`` (name as given) and 1-based ``line``."""

    file: str
    line: int
    smiles: str


def bundled_path(name: str) -> Path:
    """The file of a bundled dataset, ``molgen/data/bundled/`` in the installed package."""
    if name not in BUNDLED:
        raise InputError(f"data.name: unknown bundled dataset {name!r}; known: {sorted(BUNDLED)}")
    path = BUNDLED_DIR / BUNDLED[name]
    if not path.is_file():
        raise MissingFileError(
            f"data.name: {name} is the bundled file {path}, which is missing; it ships with the "
            "molgen package (regenerate it with scripts/prepare_qm9.py)"
        )
    return path


def qm9pack_files() -> list[Path]:
    """The three CSV files of full QM9 (130,831 molecules) inside the ``qm9pack`` package.

    ``import qm9pack`` is broken with current setuptools, so the files are located without
    executing the package.
    """
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            "data.name: qm9 needs the qm9pack package (full QM9); install it with "
            "pip install 'molgen[qm9]', or use data.name: qm9_5k"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = [folder / part for part in _QM9PACK_PARTS]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise MissingFileError(f"qm9pack is installed but lacks its data files: {missing}")
    return files


def moses_train_file() -> Path:
    """MOSES' training set (1,584,663 molecules; ``SMILES`` column, gzipped CSV) inside the
    ``molsets`` wheel (:func:`molgen.chem.moses.moses_split_file`, which raises
    :class:`~molgen.errors.MissingExtraError` with the install command without it)."""
    return moses_split_file("train")


def read_smiles(path: Path, smiles_column: str | None = None) -> list[Record]:
    """SMILES from a ``.csv`` file (column ``smiles_column``, else the one named ``smiles`` in
    any case) or from a SMILES file (each line's first field, :func:`molgen.chem.files.first_field`;
    blank lines and a first-line ``smiles`` header are skipped). Either may be gzip-compressed
    (recognised by its first bytes; ``x.csv.gz`` is a CSV file). Lines are read as
    :func:`molgen.chem.files.read_lines` reads them: a line that is not UTF-8 is one bad record,
    which the loader skips and reports. A CSV file that breaks the CSV rules (an unterminated quote,
    text after a closing quote) raises InputError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"data.path: {path} is not a file")
    if path.name.lower().removesuffix(".gz").endswith(".csv"):
        return list(_read_csv(path, smiles_column))
    if smiles_column is not None:
        raise InputError(
            f"data.smiles_column is for .csv files; {path} is read as one SMILES a line"
        )
    return list(_read_smi(path))


def _read_smi(path: Path) -> Iterator[Record]:
    for number, line in enumerate(read_lines(path), 1):
        smiles = first_field(line)
        if not smiles or (number == 1 and smiles.lower() == "smiles"):
            continue
        yield Record(path.name, number, smiles)


#: What surrounds a SMILES in a CSV field and is not part of it (ZINC250k quotes SMILES with a
#: trailing newline); anything else, inside or around, stays and makes the SMILES invalid.
_FIELD_PADDING = " \t\r\n"


def _read_csv(path: Path, smiles_column: str | None) -> Iterator[Record]:
    with _large_csv_fields(), open_text(path) as f:
        lines = BoundedLines(f)  # one record's memory is bounded, whatever the file holds
        reader = csv.reader(lines, strict=True)  # a broken quote is an error, not lost rows
        start = 1
        try:
            header = next(reader, None)
            if header is None:
                return
            column = _find_column(path, header, smiles_column)
            while True:
                start = reader.line_num + 1  # a quoted field may span lines: report the first
                lines.new_record()
                row = next(reader, None)
                if row is None:
                    return
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                smiles = row[column].strip(_FIELD_PADDING) if column < len(row) else ""
                yield Record(path.name, start, smiles)
        except csv.Error as exc:
            raise InputError(f"{path}:{start}: not valid CSV ({exc})") from None


def _find_column(path: Path, header: list[str], smiles_column: str | None) -> int:
    names = [name.strip() for name in header]
    if smiles_column is not None:
        if smiles_column not in names:
            raise InputError(f"data.smiles_column: {path} has no column {smiles_column!r}; {names}")
        return names.index(smiles_column)
    lowered = [name.lower() for name in names]
    if "smiles" not in lowered:
        raise InputError(f"{path}: no 'smiles' column; set data.smiles_column to one of {names}")
    return lowered.index("smiles")


@contextlib.contextmanager
def _large_csv_fields() -> Iterator[None]:
    # A field may take a whole record (BoundedLines bounds that), beyond csv's 128 kB default.
    previous = csv.field_size_limit(MAX_CSV_RECORD)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def read_qm9pack(smiles_column: str = _QM9PACK_COLUMN) -> list[Record]:
    """All 130,831 QM9 SMILES from qm9pack, in its order (file by file)."""
    return [record for path in qm9pack_files() for record in _read_csv(path, smiles_column)]


def read_moses() -> Iterator[Record]:
    """The 1,584,663 SMILES of MOSES' training set, in file order, read as they are iterated
    (the whole file takes seconds, its first thousand lines do not)."""
    name = moses_train_file().name
    return (
        Record(name, line, smiles)
        for line, smiles in enumerate(iter_moses_split("train"), start=2)  # line 1: the header
    )


class Packaged(NamedTuple):
    """A dataset read from an installed package: its files (for the cache key) and records."""

    files: Callable[[], list[Path]]
    read: Callable[[], Iterable[Record]]


#: Datasets (``data.name``) read from installed packages.
PACKAGED = {
    "qm9": Packaged(qm9pack_files, read_qm9pack),
    "moses": Packaged(lambda: [moses_train_file()], read_moses),
}

#: Every ``data.name``: the one list (``molgen.config.DataConfig.name`` allows exactly these).
DATASETS = (*BUNDLED, *PACKAGED)
