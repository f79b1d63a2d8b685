"""``molgen evaluate``: files (or a run) in, report files (and a W&B run) out."""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection
from functools import partial
from pathlib import Path

from molgen.chem.files import FileChangedWarning
from molgen.errors import InputError
from molgen.io import StagedFiles, check_distinct_paths, check_output_path, writing
from molgen.metrics import (
    MOLGEN,
    TABLE_COLUMNS,
    Evaluation,
    MoleculeTableWriter,
    Reference,
    evaluate,
    read_smiles_file,
    write_report,
)
from molgen.metrics.evaluator import MAX_ATOMS
from molgen.training.checkpoint import CHECKPOINT_NAME
from molgen.training.sampling import (
    CONSTRAINT_DEFINITIONS,
    TRAIN_SMILES_NAME,
    constraint_report,
    iter_samples,
    load_run,
    resolve_checkpoint,
    shipped_generators,
)

__all__ = ["BENCHMARKS", "is_checkpoint", "output_paths", "run_evaluation", "run_files"]

#: The benchmarks ``molgen evaluate --benchmark`` knows.
BENCHMARKS = ("molgen", "moses")


def is_checkpoint(path: Path) -> bool:
    """A run directory holding a checkpoint, a ``.pt`` file, or (no such path existing) the
    name of a generator shipped with molgen."""
    path = Path(path)
    if not path.exists() and str(path) in shipped_generators():
        return True
    return (path.is_dir() and (path / CHECKPOINT_NAME).is_file()) or path.suffix == ".pt"


def _no_training_molecules(generated: Path) -> str:
    return (
        f"{generated} is an exported generator, without its training molecules: novelty and "
        "the other metrics against a reference need --reference (e.g. the run's train.smi)"
    )


def run_files(source: str | Path) -> dict[str, Path]:
    """The files a run argument (a run directory, a checkpoint, an exported or shipped
    generator) is read from, by what they are: its checkpoint and, for a training checkpoint,
    the ``train.smi`` beside it; empty when ``source`` names nothing (loading it then fails
    with its own message). For :func:`~molgen.io.check_distinct_paths`."""
    path = Path(source)
    if not path.exists():
        if str(source) not in shipped_generators():
            return {}
        path = resolve_checkpoint(source)
    checkpoint = path / CHECKPOINT_NAME if path.is_dir() else path
    files = {"the run's checkpoint": checkpoint}
    if checkpoint.name == CHECKPOINT_NAME:
        files["the run's training molecules"] = checkpoint.with_name(TRAIN_SMILES_NAME)
    return files


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

    ``benchmark="moses"`` computes MOSES' metrics instead, against ``test``, ``test_scaffolds``
    and ``train`` (SMILES files; each defaults to MOSES' own set from the molsets wheel).

    Raises :class:`~molgen.errors.MolgenError` naming the offending file for missing, empty or
    unreadable inputs, and naming both files, before anything is read or written, when a
    report file would be an input (the generated file, the reference, a run's checkpoint or
    training molecules) or another report file (``out`` ending in ``.md``);
    :class:`~molgen.errors.OutputFault` naming the report file when the system refuses to
    write it (no space).
    """
    if benchmark not in BENCHMARKS:
        raise InputError(f"benchmark: unknown {benchmark!r}; known: {list(BENCHMARKS)}")
    moses_files = {"test": test, "test_scaffolds": test_scaffolds, "train": train}
    if benchmark == "moses" and reference is not None:
        raise InputError("--reference is molgen's; MOSES takes --test/--test-scaffolds/--train")
    if benchmark == "molgen" and any(path is not None for path in moses_files.values()):
        raise InputError("--test/--test-scaffolds/--train need --benchmark moses")
    paths = output_paths(out)
    report_files = [paths[key] for key in _REPORT_FILES]
    inputs = run_files(generated) if is_checkpoint(generated) else {"the generated file": generated}
    inputs |= {"--reference": reference, "--test": test, "--test-scaffolds": test_scaffolds}
    inputs |= {"--train": train}
    check_distinct_paths({_REPORT_FILES[key]: paths[key] for key in _REPORT_FILES}, inputs)
    for path in report_files:  # a folder named as --out: said now, not after the evaluation
        check_output_path(path)
    reference_smiles = None if reference is None else read_smiles_file(reference)
    run = None
    notes = []
    if is_checkpoint(generated):
        run = load_run(generated)
        samples = (s for batch in iter_samples(run, n, seed, jobs=n_jobs) for s in batch)
        if reference_smiles is None and benchmark == "molgen" and run.train_smiles:
            reference_smiles = run.train_smiles
        elif reference_smiles is None and benchmark == "molgen":
            notes.append(_no_training_molecules(generated))
            warnings.warn(notes[-1], stacklevel=2)
    else:
        samples = read_smiles_file(generated)
    ref = None
    if benchmark == "moses":
        from molgen.metrics.moses import MOSES, moses_references

        suite = MOSES
        ref = moses_references(moses_files, cache_dir=cache_dir, n_jobs=n_jobs)
    else:
        suite = MOLGEN
    if reference_smiles is not None:
        ref = Reference.from_smiles(
            reference_smiles, cache_dir=cache_dir, n_jobs=n_jobs, max_atoms=max_atoms
        )
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
            evaluation.metrics |= constraint_report(run.generator, run.vocab, n, seed=seed)
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

            plot_reference = ref["test"] if benchmark == "moses" else ref
            with writing(paths["properties_png"]):
                plot_property_distributions(
                    evaluation, staged.path(paths["properties_png"]), plot_reference, n_jobs=n_jobs
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
