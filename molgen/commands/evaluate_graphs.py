"""``molgen evaluate --graphs``: generated and reference graph files in, report.json and
report.md out (no RDKit on this path)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from molgen.data.graphs import read_graphs
from molgen.errors import InputError
from molgen.io import StagedFiles
from molgen.metrics.graphs import GRAPH_BENCHMARKS, KERNELS, GraphEvaluation, evaluate_graphs

__all__ = ["graph_report_markdown", "run_graph_evaluation"]


def run_graph_evaluation(
    generated: Path,
    reference: Path | None,
    out: Path,
    *,
    train: Path | None = None,
    benchmark: str | None = None,
    kernel: str | None = None,
) -> GraphEvaluation:
    """Evaluate the graphs of ``generated`` against those of ``reference`` (files or folders
    that :func:`~molgen.data.graphs.read_graphs` reads), novelty against ``train``, validity
    for ``benchmark`` (planar, sbm; community_small selects its kernel only), and write
    ``out`` (report.json) and report.md beside it, together or not at all.

    Raises :class:`~molgen.errors.MolgenError` naming the offending file or option."""
    if reference is None:
        raise InputError("--graphs needs --reference (the reference graphs, e.g. the test set)")
    if benchmark is not None and benchmark not in GRAPH_BENCHMARKS:
        raise InputError(f"--graph-benchmark: unknown {benchmark!r}; known: {GRAPH_BENCHMARKS}")
    if kernel is not None and kernel not in KERNELS:
        raise InputError(f"--graph-kernel: unknown {kernel!r}; known: {list(KERNELS)}")
    samples = read_graphs(generated)
    ref = read_graphs(reference)
    train_graphs = None if train is None else read_graphs(train)
    evaluation = evaluate_graphs(samples, ref, train_graphs, benchmark=benchmark, kernel=kernel)
    out = Path(out)
    markdown = out.with_suffix(".md")
    with StagedFiles([out, markdown]) as staged:
        staged.path(out).write_text(json.dumps(evaluation.to_report(), indent=2) + "\n")
        staged.path(markdown).write_text(graph_report_markdown(evaluation), encoding="utf-8")
        staged.commit()
    return evaluation


def graph_report_markdown(evaluation: GraphEvaluation) -> str:
    """report.md: the sizes, then a table of each metric, its value and definition."""
    train = "none" if evaluation.train_size is None else evaluation.train_size
    lines = [
        "# molgen graph evaluation"
        + (f" ({evaluation.benchmark})" if evaluation.benchmark else ""),
        "",
        f"{evaluation.n_samples} generated graphs, {evaluation.reference_size} reference graphs, "
        f"training graphs: {train}; kernel: {evaluation.kernel}.",
        "",
        "| metric | value | definition |",
        "|---|---|---|",
    ]
    for key, value in evaluation.metrics.items():
        shown = f"{value:.6g}" if math.isfinite(value) else "n/a"
        lines.append(f"| {key} | {shown} | {evaluation.definitions[key]} |")
    lines += [f"\nNote: {note}" for note in evaluation.notes]
    return "\n".join(lines) + "\n"
