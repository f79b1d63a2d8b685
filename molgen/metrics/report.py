"""Reading SMILES files and writing evaluation reports (report.json, report.md, molecules.csv)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path

from molgen.chem.files import first_field, read_lines
from molgen.errors import InputError
from molgen.metrics.evaluator import TABLE_COLUMNS, Evaluation

__all__ = ["MoleculeTableWriter", "read_smiles_file", "write_report"]

#: Per-molecule rows shown in report.md (all rows are in molecules.csv).
MARKDOWN_ROWS = 50


def read_smiles_file(path: str | Path) -> Iterator[str]:
    """Stream the samples of a SMILES file, one per line, gzip-compressed or not (recognised by
    its first bytes, whatever its name).

    A line's sample is its first field (:func:`molgen.chem.files.first_field`: fields are separated by
    ASCII spaces and tabs, a name may follow), the line read by :func:`molgen.chem.files.read_lines`
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
    return _lines(path)


def _lines(path: Path) -> Iterator[str]:
    empty = True
    for line in read_lines(path):
        empty = False
        yield first_field(line)
    if empty:  # e.g. a gzip file of nothing
        raise InputError(f"{path}: no lines, no SMILES to read")


class MoleculeTableWriter:
    """Streams per-molecule rows (``TABLE_COLUMNS``) to a CSV file; use as ``on_rows``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(  # noqa: SIM115 (closed in close())
            self.path, "w", newline="", encoding="utf-8"
        )
        self._writer = csv.writer(self._file)
        self._writer.writerow(TABLE_COLUMNS)
        self.head: list[tuple] = []

    def __call__(self, rows: list[tuple]) -> None:
        self._writer.writerows(_format_row(row) for row in rows)
        self.head.extend(rows[: MARKDOWN_ROWS - len(self.head)])

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> MoleculeTableWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _format_row(row: tuple) -> list:
    return ["" if v is None else f"{v:.4f}" if isinstance(v, float) else _shown(v) for v in row]


def _shown(value):
    """Text as its file had it, a byte that was not UTF-8 as ``\\xNN``."""
    if not isinstance(value, str):
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # other lone surrogates (not from a file): escaped as they are
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def write_report(
    evaluation: Evaluation,
    path: str | Path,
    head_rows: list[tuple] | None = None,
    markdown_path: str | Path | None = None,
) -> tuple[Path, Path]:
    """Write ``path`` (report.json: metric floats at top level, null when undefined, plus
    ``n_samples``, counts and ``definitions``) and ``markdown_path`` (default: report.md beside
    it; metrics table with definitions, invalid reasons, the first per-molecule rows). Returns
    both paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = evaluation.to_report()
    path.write_text(json.dumps(report, indent=2) + "\n")
    rows = head_rows if head_rows is not None else (evaluation.table or [])[:MARKDOWN_ROWS]
    md_path = path.with_suffix(".md") if markdown_path is None else Path(markdown_path)
    md_path.write_text(_markdown(evaluation, rows), encoding="utf-8")
    return path, md_path


def _moses_table(evaluation: Evaluation) -> list[str]:
    """MOSES' README table with this evaluation as the first row, its published baselines below
    (mean ± std over 3 runs), then the property distances (not in MOSES' table)."""
    from molgen.metrics.moses import MOSES_BASELINES, MOSES_TABLE_COLUMNS

    def shown(key: str) -> str:
        value = evaluation.metrics.get(key, math.nan)
        return f"{value:.4f}" if math.isfinite(value) else "n/a"

    lines = [
        "## MOSES table",
        "",
        "| Model | " + " | ".join(MOSES_TABLE_COLUMNS) + " |",
        "|---|" + "---|" * len(MOSES_TABLE_COLUMNS),
        "| this run | " + " | ".join(shown(key) for key in MOSES_TABLE_COLUMNS) + " |",
    ]
    for model, values in MOSES_BASELINES.items():
        lines.append(f"| {model} | " + " | ".join(f"{m}±{s}" for m, s in values) + " |")
    properties = ("logP", "SA", "QED", "weight")
    lines += [
        "",
        'Baselines: MOSES README table (molecularsets/moses, README "Metrics"), mean±std '
        "over 3 runs, against MOSES' full test sets.",
        "",
        "| " + " | ".join(properties) + " |",
        "|" + "---|" * len(properties),
        "| " + " | ".join(shown(key) for key in properties) + " |",
        "",
        "Wasserstein-1 distances to the test set (MOSES reports them as plots only).",
        "",
    ]
    return lines


def _markdown(evaluation: Evaluation, rows: list[tuple]) -> str:
    moses = evaluation.benchmark == "moses"
    counts = (
        f"{evaluation.n_valid} valid (MOSES: sanitizable, fragments allowed)"
        if moses
        else f"{evaluation.n_valid} strict-valid, {evaluation.n_relaxed_valid} sanitizable"
    )
    reference = evaluation.reference_size if evaluation.reference_size else "none"
    lines = [
        "# molgen evaluation" + (" (MOSES benchmark)" if moses else ""),
        "",
        f"{evaluation.n_samples} samples, {counts}, {evaluation.n_distinct} distinct valid"
        + ("." if moses else f"; reference: {reference}."),
        "",
        *(_moses_table(evaluation) if moses else []),
        "| metric | value | definition |",
        "|---|---|---|",
    ]
    for key, value in evaluation.metrics.items():
        shown = f"{value:.4f}" if math.isfinite(value) else "n/a"
        lines.append(f"| {key} | {shown} | {evaluation.definitions[key]} |")
    for note in evaluation.notes:
        lines += ["", f"Note: {note}"]
    if evaluation.reasons:
        lines += ["", "| invalid reason | samples |", "|---|---|"]
        lines += [f"| {reason} | {n} |" for reason, n in sorted(evaluation.reasons.items())]
    if rows:
        lines += [
            "",
            f"## Molecules (first {len(rows)}; all in molecules.csv)",
            "",
            "| " + " | ".join(TABLE_COLUMNS) + " |",
            "|" + "---|" * len(TABLE_COLUMNS),
        ]
        for row in rows:
            cells = [str(c).replace("|", "\\|") for c in _format_row(row)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
