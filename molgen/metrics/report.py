"""Writing evaluation reports (report.json, report.md, molecules.csv); SMILES files are read by
:func:`molgen.chem.files.read_smiles_file` (also importable from here)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from molgen.chem.files import read_smiles_file
from molgen.metrics.benchmarks import BENCHMARKS
from molgen.metrics.evaluator import TABLE_COLUMNS, Evaluation
from molgen.metrics.suite import MOLGEN, format_value

__all__ = ["MoleculeTableWriter", "read_smiles_file", "write_report"]

#: Per-molecule rows shown in report.md (all rows are in molecules.csv).
MARKDOWN_ROWS = 50


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


def _markdown(evaluation: Evaluation, rows: list[tuple]) -> str:
    # a benchmark outside the registry (one built in Python) is written as molgen's
    benchmark = BENCHMARKS.get(evaluation.benchmark, MOLGEN)
    counts = benchmark.report_counts.format(
        n_samples=evaluation.n_samples,
        n_valid=evaluation.n_valid,
        n_relaxed_valid=evaluation.n_relaxed_valid,
        n_distinct=evaluation.n_distinct,
        reference=evaluation.reference_size or "none",
    )
    lines = [
        f"# {benchmark.report_title}",
        "",
        counts,
        "",
        *benchmark.report_sections(evaluation.metrics),
        "| metric | value | definition |",
        "|---|---|---|",
    ]
    for key, value in evaluation.metrics.items():
        lines.append(f"| {key} | {format_value(value)} | {evaluation.definitions[key]} |")
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
