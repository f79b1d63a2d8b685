"""``molgen evaluate``: files (or a run) in, report files (and a W&B run) out."""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection
from functools import partial
from pathlib import Path

from molgen.chem.files import FileChangedWarning
from molgen.data.graphs import GraphVocabulary
from molgen.errors import InputError
from molgen.io import StagedFiles, check_distinct_paths, check_output_path, writing
from molgen.metrics import (
    BENCHMARKS,
    CONSTRAINT_DEFINITIONS,
    TABLE_COLUMNS,
    Benchmark,
    Evaluation,
    MoleculeTableWriter,
    evaluate,
    get_benchmark,
    read_smiles_file,
    write_report,
)
from molgen.metrics.evaluator import MAX_ATOMS
from molgen.metrics.suite import REFERENCE
from molgen.training.constraints import constraint_report
from molgen.training.run import is_checkpoint, load_run, run_files
from molgen.training.sampling import iter_samples

__all__ = ["BENCHMARKS", "is_checkpoint", "output_paths", "run_evaluation"]

#: The option of ``molgen evaluate`` that gives each reference set a benchmark may compare with.
REFERENCE_OPTIONS = {
    REFERENCE: "--reference",
    "test": "--test",
    "test_scaffolds": "--test-scaffolds",
    "train": "--train",
}


def _check_references(suite: Benchmark, given: dict[str, Path]) -> None:
    """InputError for a reference option the benchmark does not compare with, naming the
    benchmarks that do and the options this one takes."""
    for name in given:
        if name not in suite.references:
            owners = [f"--benchmark {b.name}" for b in BENCHMARKS.values() if name in b.references]
            takes = [option for key, option in REFERENCE_OPTIONS.items() if key in suite.references]
            raise InputError(
                f"{REFERENCE_OPTIONS[name]} needs {' or '.join(owners)}; --benchmark "
                f"{suite.name} takes {', '.join(takes)}"
            )


def _no_training_molecules(generated: Path) -> str:
    return (
        f"{generated} is an exported generator, without its training molecules: novelty and "
        "the other metrics against a reference need --reference (e.g. the run's train.smi)"
    )


#: What each report file is, for messages (:func:`output_paths`' keys).
_REPORT_FILES = {
    "json": "--out",
    "markdown": "the markdown report",
    "molecules": "the molecule table",
    "properties_png": "the property plot",
    "grid_png": "the molecule grid",
}


def output_paths(out: Path) -> dict[str, Path]:
    """Files written beside ``out`` (report.json): report.md, the per-molecule CSV, figures."""
    out = Path(out)
    return {
        "json": out,
        "markdown": out.with_suffix(".md"),
        "molecules": out.with_name(f"{out.stem}_molecules.csv"),
        "properties_png": out.with_name(f"{out.stem}_properties.png"),
        "grid_png": out.with_name(f"{out.stem}_grid.png"),
        "wandb_dir": out.with_name(f"{out.stem}_wandb"),
    }


def run_evaluation(
    generated: Path,
    out: Path,
    *,
    reference: Path | None = None,
    n: int = 10_000,
    seed: int = 0,
    metrics: Collection[str] | None = None,
    n_jobs: int | None = 1,
    cache_dir: Path | None = None,
    plots: bool = False,
    wandb: bool = False,
    progress: bool = True,
    benchmark: str = "molgen",
    test: Path | None = None,
    test_scaffolds: Path | None = None,
    train: Path | None = None,
    max_atoms: int | None = MAX_ATOMS,
) -> Evaluation:
    """Evaluate a SMILES file, or ``n`` samples of a run (its checkpoint, an exported or shipped
    generator, read once, sampled on ``n_jobs`` processes; its training molecules are the
    default reference, and an exported generator, which has none, gets a note and a warning
    that the reference metrics need ``reference``), and write the
    report files (:func:`output_paths`). Samples and reference molecules with more than
    ``max_atoms`` heavy atoms are invalid (``"too_large"``).

    The report files are written under temporary names and moved into place together at the
    end (:class:`~molgen.io.StagedFiles`): an interrupted or failed evaluation leaves the
    previous report set as it was, and a new set replaces all of an old one (figures of an
    earlier ``plots`` run included).

    ``benchmark`` names one of :data:`~molgen.metrics.BENCHMARKS`, which builds its own
    reference sets from the options given: ``"moses"`` computes MOSES' metrics instead, against
    ``test``, ``test_scaffolds`` and ``train`` (SMILES files; each defaults to MOSES' own set
    from the molsets wheel); ``"gdss"`` computes GDSS's (validity without correction, NSPDK
    MMD and FCD against ``test``, uniqueness, novelty against ``train``, which defaults to a
    run's training molecules).

    Raises :class:`~molgen.errors.MolgenError` naming the offending file for missing, empty or
    unreadable inputs, and naming both files, before anything is read or written, when a
    report file would be an input (the generated file, the reference, a run's checkpoint or
    training molecules) or another report file (``out`` ending in ``.md``);
    :class:`~molgen.errors.OutputFault` naming the report file when the system refuses to
    write it (no space).
    """
    suite = get_benchmark(benchmark)
    options = {REFERENCE: reference, "test": test, "test_scaffolds": test_scaffolds, "train": train}
    given = {name: path for name, path in options.items() if path is not None}
    _check_references(suite, given)
    paths = output_paths(out)
    report_files = [paths[key] for key in _REPORT_FILES]
    inputs = run_files(generated) if is_checkpoint(generated) else {"the generated file": generated}
    inputs |= {REFERENCE_OPTIONS[name]: path for name, path in given.items()}
    check_distinct_paths({_REPORT_FILES[key]: paths[key] for key in _REPORT_FILES}, inputs)
    for path in report_files:  # a folder named as --out: said now, not after the evaluation
        check_output_path(path)
    run = None
    notes = []
    drawn: list[str | None] = []  # the run's samples, kept for the constraint report
    if is_checkpoint(generated):
        run = load_run(generated)
        if isinstance(run.vocab, GraphVocabulary):
            raise InputError(
                f"{generated} generates graphs without chemistry, not molecules: write samples "
                "with `molgen sample RUN -n N -o samples.g6` and score them with "
                "`molgen evaluate --graphs samples.g6 --reference RUN/test.g6`"
            )
        samples = (
            drawn.append(s) or s for batch in iter_samples(run, n, seed, jobs=n_jobs) for s in batch
        )
        default = suite.run_reference  # the set the run's training molecules stand for
        if default is not None and default not in given and run.train_smiles:
            given[default] = run.train_smiles
        elif default is not None and default not in given:
            notes.append(_no_training_molecules(generated))
            warnings.warn(notes[-1], stacklevel=2)
    else:
        samples = read_smiles_file(generated)
    ref = suite.load_references(given, cache_dir=cache_dir, n_jobs=n_jobs, max_atoms=max_atoms)
    images = {}
    with StagedFiles(report_files) as staged:
        with writing(paths["molecules"]):
            table = MoleculeTableWriter(staged.path(paths["molecules"]))
        with table, warnings.catch_warnings(record=True) as caught:
            evaluation = evaluate(
                samples,
                ref,
                metrics=metrics,
                n_jobs=n_jobs,
                keep_table=False,
                on_rows=partial(_write_rows, table, paths["molecules"]),
                progress=progress,
                benchmark=suite,
                max_atoms=max_atoms,
            )
            with writing(paths["molecules"]):
                table.close()  # its last rows reach the disk here
        for warning in caught:  # shown as usual; a file changed meanwhile is also a note
            if issubclass(warning.category, FileChangedWarning):
                notes.append(str(warning.message))
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        if run is not None:  # what the validity owes to the sampler's constraints, same noise
            evaluation.metrics |= constraint_report(
                run.generator, run.vocab, drawn, seed=seed, jobs=n_jobs
            )
            evaluation.definitions |= CONSTRAINT_DEFINITIONS
        evaluation.notes.extend(notes)
        with writing(f"{paths['json']} and {paths['markdown']}"):
            write_report(
                evaluation,
                staged.path(paths["json"]),
                head_rows=table.head,
                markdown_path=staged.path(paths["markdown"]),
            )
        if plots:
            from molgen.metrics.plots import plot_molecule_grid, plot_property_distributions

            with writing(paths["properties_png"]):
                plot_property_distributions(
                    evaluation,
                    staged.path(paths["properties_png"]),
                    ref.get(suite.plot_reference),
                    n_jobs=n_jobs,
                )
            images["properties"] = paths["properties_png"]
            with writing(paths["grid_png"]):
                grid = plot_molecule_grid(evaluation, staged.path(paths["grid_png"]))
            if grid is not None:
                images["molecules"] = paths["grid_png"]
        staged.commit()
    if wandb:
        _log_to_wandb(evaluation, paths["wandb_dir"], table.head, images, generated, reference)
    return evaluation


def _write_rows(table: MoleculeTableWriter, final: Path, rows: list[tuple]) -> None:
    """``table(rows)``; a failing write names ``final``, the table the user asked for."""
    with writing(final):
        table(rows)


def _log_to_wandb(
    evaluation: Evaluation,
    run_dir: Path,
    rows: list[tuple],
    images: dict[str, Path],
    generated: Path,
    reference: Path | None,
) -> None:
    from molgen.config import WandbConfig
    from molgen.tracking import open_tracker

    config = {
        "generated": str(generated),
        "reference": None if reference is None else str(reference),
    }
    tracker = open_tracker(run_dir, config, wandb=WandbConfig(), job_type="evaluate")
    try:
        scalars = {f"eval/{k}": v for k, v in evaluation.metrics.items() if math.isfinite(v)}
        tracker.log({**scalars, "eval/n_samples": float(evaluation.n_samples)}, step=0)
        tracker.log_table("eval/molecules", list(TABLE_COLUMNS), [list(r) for r in rows], step=0)
        for key, path in images.items():
            tracker.log_image(f"eval/{key}", path, step=0)
    finally:
        tracker.finish()
