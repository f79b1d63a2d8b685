"""The `molgen` command line: thin calls into the library.

Subcommands take a YAML config plus dotted ``key=value`` overrides, e.g.
``molgen train configs/qm9_5k.yaml train.batch_size=64 temperature.schedule=cosine``.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from molgen.choices import BENCHMARK_NAMES
from molgen.config import load_config, to_yaml
from molgen.errors import Interrupted, MolgenError, MolgenFault


class _Molgen(typer.Typer):
    """The command line, with one guarantee more than typer's: when standard output cannot be
    written (``> /dev/full``, a full disk behind ``> file``), the command ends with one line on
    stderr and exit code 1, not a traceback. Every command's own errors are reported inside it
    (:func:`_reported`); what reaches here is typer's own printing (help, usage), as commands
    print their results with :func:`_echo`."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except OSError as error:
            _stdout_failed(error)
        finally:
            # Python's last garbage collection at exit walks every object torch and RDKit
            # made: seconds, after the command is done or interrupted. Nothing is left to free.
            gc.freeze()


def _stdout_failed(error: OSError) -> None:
    """One line and exit code 1 for an output stream that cannot be written."""
    if _options["debug"]:
        raise error
    # stdout is unusable: point it at /dev/null so that Python's own flush at exit does not
    # fail again with a second message
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    typer.secho(
        f"error: cannot write the output: {error.strerror or error}", fg=typer.colors.RED, err=True
    )
    sys.exit(1)


def _echo(message: str, nl: bool = True) -> None:
    """Print a result on stdout; a failed write ends the command like :class:`_Molgen`, with
    the same line, inside a command's :func:`_reported` body too."""
    try:
        typer.echo(message, nl=nl)
    except OSError as error:
        _stdout_failed(error)


app = _Molgen(
    help="molgen: train molecule generators, sample them, evaluate any generator's molecules.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect experiment configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")


#: The largest sampling seed: batch i draws from seed (seed * 1_000_003 + i) mod 2**63, so a
#: larger seed would repeat a smaller one's molecules.
MAX_SEED = 2**63 - 1

#: Options of the whole command, set by :func:`main` at each invocation.
_options = {"debug": False}


@app.callback()
def main(
    debug: bool = typer.Option(
        False,
        "--debug",
        envvar="MOLGEN_DEBUG",
        help="show the traceback of any error (also MOLGEN_DEBUG=1)",
    ),
) -> None:
    """molgen: train molecule generators, sample them, evaluate any generator's molecules."""
    _options["debug"] = debug


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Exit with ``code`` after one line on stderr."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=code)


def _terminate(signum: int, frame: object) -> None:
    raise Interrupted(signum, "terminated (SIGTERM)")


@contextlib.contextmanager
def _reported(*user_errors: type[BaseException]) -> Iterator[None]:
    """Run a command's body; turn what it raises into one line and an exit code: 2 for a
    :class:`~molgen.errors.MolgenError` (or one of ``user_errors``), 1 for a fault of the
    machine (:class:`~molgen.errors.MolgenFault`, ``OSError``), 128 + the signal's number for
    an interruption, and 1 for anything else, a bug in molgen. ``--debug`` (``MOLGEN_DEBUG=1``)
    lets every exception through with its traceback. SIGTERM interrupts the body like Ctrl-C,
    so partial outputs are removed as on Ctrl-C."""
    previous = None
    with contextlib.suppress(ValueError):  # not in the main thread: no handler
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    except typer.Exit:
        raise
    except BaseException as error:
        if _options["debug"] or isinstance(error, SystemExit):
            raise
        raise _exit_for(error, user_errors) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_for(error: BaseException, user_errors: tuple[type[BaseException], ...]) -> typer.Exit:
    if isinstance(error, (MolgenError, *user_errors)):
        return _fail(str(error))
    if isinstance(error, Interrupted):
        return _fail(str(error), 128 + error.signum)
    if isinstance(error, KeyboardInterrupt):
        return _fail("interrupted", 128 + signal.SIGINT)
    if isinstance(error, MolgenFault):
        return _fail(str(error), 1)
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return _fail(f"{where}{error.strerror or error}", 1)
    summary = " ".join(str(error).split())[:300]  # one line, however long the message
    return _fail(
        f"internal error, a bug in molgen ({type(error).__name__}: {summary}); "
        "rerun with --debug (or MOLGEN_DEBUG=1) for its traceback",
        1,
    )


@config_app.command("show")
def config_show(
    config: Path = typer.Argument(None, help="YAML experiment file (defaults when omitted)"),
    overrides: list[str] = typer.Argument(None, help="dotted key=value overrides"),
) -> None:
    """Print the resolved config (file + overrides + defaults) as YAML."""
    with _reported():
        cfg = load_config(config, overrides or [])
    _echo(to_yaml(cfg), nl=False)


def default_run_dir(name: str) -> Path:
    """``runs/NAME``; under a W&B sweep agent ``runs/NAME-RUNID``, so sweep runs never collide."""
    run_id = os.environ.get("WANDB_RUN_ID") if os.environ.get("WANDB_SWEEP_ID") else None
    return Path("runs") / (f"{name}-{run_id}" if run_id else name)


@app.command()
def train(
    config: Path = typer.Argument(..., help="YAML experiment file, e.g. configs/qm9_5k.yaml"),
    overrides: list[str] = typer.Argument(None, help="dotted key=value overrides"),
    out: Path = typer.Option(None, "--out", "-o", help="run directory (default runs/<name>)"),
    resume: Path = typer.Option(None, "--resume", help="continue the run in this directory"),
    progress: bool = typer.Option(True, help="show a progress bar"),
) -> None:
    """Train MolGAN; writes checkpoint, metrics.jsonl, samples, curves and an offline W&B run."""
    from molgen.training import TrainingDiverged
    from molgen.training import train as run_training

    # a diverged run and an --out that holds a run are the user's to fix (settings, folder)
    with _reported(TrainingDiverged, FileExistsError):
        cfg = load_config(config, overrides or [])
        if resume is not None and out is not None and out != resume:
            raise _fail("give either --out (new run) or --resume (existing run), not both")
        run_dir = resume or out or default_run_dir(cfg.name)
        metrics = run_training(cfg, run_dir, resume=resume is not None, progress=progress)
    _echo(f"run written to {run_dir}")
    for key, value in metrics.items():
        _echo(f"  {key:>18s}: {value:.4f}")


@app.command()
def sample(
    checkpoint: str = typer.Argument(
        ...,
        help="run directory, checkpoint or exported generator (an existing path wins), or the "
        "name of a generator shipped with molgen, e.g. qm9",
    ),
    n: int = typer.Option(10000, "-n", min=1, help="number of molecules (graphs)"),
    output: Path = typer.Option(
        ..., "--output", "-o", help="SMILES file to write (a run on graphs: a .g6 file)"
    ),
    image: Path = typer.Option(None, "--image", help="also draw a grid PNG of the first molecules"),
    seed: int = typer.Option(
        0, "--seed", min=0, max=MAX_SEED, help="sampling seed (same seed, same molecules)"
    ),
    batch_size: int = typer.Option(1024, "--batch-size", min=1),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="processes (same output for any)"),
) -> None:
    """Sample molecules from a checkpoint: one line per sample, to OUTPUT (replaced when complete).

    `molgen sample qm9 -n 1000 -o out.smi` samples the QM9 generator shipped with molgen. Each
    line is a canonical SMILES (fragments joined by '.'); a graph that RDKit cannot sanitize is
    written as an empty line, so the file keeps one line per sample and `molgen evaluate` counts
    it as invalid. A run on graphs without chemistry writes one graph6 line per sample to a .g6
    file, which `molgen evaluate --graphs` reads.
    """
    from tqdm.auto import tqdm

    from molgen.io import atomic_write, check_distinct_paths, check_output_path
    from molgen.training.run import load_run, run_files
    from molgen.training.sampling import iter_samples

    preview: list[str] = []

    def write_samples(f) -> None:
        unit = "graph" if run.config.data.graphs else "mol"
        with tqdm(total=n, desc="sampling", unit=unit) as bar:
            for batch in iter_samples(run, n, seed=seed, batch_size=batch_size, jobs=jobs):
                f.write("".join(f"{s or ''}\n" for s in batch).encode())
                preview.extend([s for s in batch if s][: 48 - len(preview)])
                bar.update(len(batch))

    with _reported():
        # Everything is checked before anything is written, and OUTPUT is replaced only once
        # complete: a bad checkpoint or an interruption leaves an existing OUTPUT as it was.
        for path in (output, image):
            if path is not None:
                check_output_path(path)
        check_distinct_paths({"--output": output, "--image": image}, run_files(checkpoint))
        run = load_run(checkpoint, train_smiles=False)  # sampling needs no training molecules
        if run.config.data.graphs:
            _check_graph_sample_options(output, image)
        atomic_write(output, write_samples)
        _echo(f"wrote {n} samples to {output}")
        if image is not None and not preview:
            typer.secho(
                "no valid molecule to draw; no image written", fg=typer.colors.YELLOW, err=True
            )
        elif image is not None:
            from molgen.chem.draw import draw_grid

            draw_grid(preview, image)
            _echo(f"drew {len(preview)} molecules to {image}")


def _check_graph_sample_options(output: Path, image: Path | None) -> None:
    """A run on graphs writes graph6 lines (``.g6``, what ``evaluate --graphs`` reads as one
    graph a line) and draws no molecules."""
    from molgen.errors import InputError
    from molgen.training.run import GRAPH_SPLIT_SUFFIX

    if output.suffix.lower() != GRAPH_SPLIT_SUFFIX:
        raise InputError(
            f"--output {output}: a run on graphs writes graph6, one graph a line: give a file "
            f"ending in {GRAPH_SPLIT_SUFFIX}"
        )
    if image is not None:
        raise InputError("--image draws molecules; this run generates graphs without chemistry")


@app.command()
def export(
    run: Path = typer.Argument(
        ..., help="run directory or checkpoint, an exported generator, or a shipped one's name"
    ),
    output: Path = typer.Option(..., "--output", "-o", help="generator file to write (.pt)"),
    atoms_temperature: float = typer.Option(
        None, "--sample-atoms-temperature", help="generator.sample_temperature.atoms to store"
    ),
    bonds_temperature: float = typer.Option(
        None, "--sample-bonds-temperature", help="generator.sample_temperature.bonds to store"
    ),
) -> None:
    """Export a run's generator for sampling only: weights (the averaged ones when the run has
    them), vocabulary, config, tau and provenance; no critic, optimisers or training molecules.

    `molgen sample` and `molgen evaluate` read the file like a run. The two temperatures, given
    together, replace the run's sampling temperatures in the exported config."""
    from molgen.io import check_distinct_paths
    from molgen.training.run import export_generator, run_files

    with _reported():
        check_distinct_paths({"--output": output}, run_files(run))
        temperature = None
        if (atoms_temperature is None) != (bonds_temperature is None):
            raise _fail("give --sample-atoms-temperature and --sample-bonds-temperature together")
        if atoms_temperature is not None:
            temperature = (atoms_temperature, bonds_temperature)
        export_generator(run, output, sample_temperature=temperature)
    _echo(f"wrote the generator of {run} to {output} ({output.stat().st_size / 1e6:.1f} MB)")


#: ``--benchmark``'s choices: the names of :data:`molgen.metrics.BENCHMARKS` (a test holds them
#: equal), read from :mod:`molgen.choices` because importing the registry takes seconds (torch,
#: RDKit) that the other commands must not pay.
BenchmarkName = enum.Enum("BenchmarkName", {name: name for name in BENCHMARK_NAMES}, type=str)


@app.command()
def evaluate(
    generated: Path = typer.Argument(
        None,
        help="SMILES file (one per line), or a run directory, checkpoint or exported generator "
        "(an existing path wins), or a shipped generator's name, e.g. qm9",
        show_default=False,
    ),
    reference: Path = typer.Option(None, "--reference", "-r", help="reference SMILES file"),
    out: Path = typer.Option(Path("report.json"), "--out", "-o", help="report JSON to write"),
    n: int = typer.Option(
        10000, "-n", min=1, help="samples to draw when GENERATED is a checkpoint"
    ),
    seed: int = typer.Option(
        0, "--seed", min=0, max=MAX_SEED, help="sampling seed for a checkpoint"
    ),
    metrics: list[str] = typer.Option(None, "--metric", "-m", help="only these metrics (repeat)"),
    jobs: int = typer.Option(
        os.cpu_count() or 1,
        "--jobs",
        "-j",
        min=1,
        help="processes for the per-molecule work (RDKit, ChemNet); the report is the same for any",
    ),
    cache_dir: Path = typer.Option(
        Path(".cache/molgen"), "--cache-dir", help="reference statistics cache"
    ),
    plots: bool = typer.Option(False, "--plots", help="write property and molecule PNGs"),
    wandb: bool = typer.Option(False, "--wandb", help="log the report to a W&B run"),
    progress: bool = typer.Option(True, help="show a progress bar"),
    benchmark: BenchmarkName = typer.Option(
        BenchmarkName(BENCHMARK_NAMES[0]),
        "--benchmark",
        help="molgen's metrics, MOSES' (get_all_metrics keys) or GDSS's (its Table 3)",
    ),
    test: Path = typer.Option(
        None, "--test", help="MOSES test set (default: MOSES' own); GDSS's test set"
    ),
    test_scaffolds: Path = typer.Option(
        None, "--test-scaffolds", help="MOSES scaffold test set (default: MOSES' own)"
    ),
    train: Path = typer.Option(
        None,
        "--train",
        help="MOSES training set (default: MOSES' own); GDSS's (default: a run's training "
        "molecules)",
    ),
    max_atoms: int = typer.Option(
        1000,
        "--max-atoms",
        min=1,
        help="samples and reference molecules with more heavy atoms are invalid (too_large)",
    ),
    graphs: Path = typer.Option(
        None,
        "--graphs",
        help="evaluate generic graphs instead of molecules: a graph file (edge list, GraphML, "
        "graph6) or a folder of them, against --reference (and --train for novelty)",
    ),
    graph_benchmark: str = typer.Option(
        None, "--graph-benchmark", help="with --graphs: planar, sbm (validity) or community_small"
    ),
    graph_kernel: str = typer.Option(
        None, "--graph-kernel", help="with --graphs: tv or emd (default: the benchmark's)"
    ),
) -> None:
    """Evaluate molecules: report.json (metrics, definitions), report.md, per-molecule CSV.

    `--benchmark moses` reports MOSES' metrics with MOSES' definitions against its test,
    scaffold-test and training sets (from `pip install --no-deps molsets==0.3.1`, or the files
    given).

    `--benchmark gdss --test TEST --train TRAIN` reports GDSS's molecule protocol: validity
    without correction, NSPDK MMD and FCD against TEST, uniqueness, novelty against TRAIN.

    `--graphs GEN --reference TEST [--train TRAIN] [--graph-benchmark planar|sbm]` evaluates
    generic graphs instead: degree, clustering, orbit and spectral MMD, uniqueness, novelty,
    validity and V.U.N., into report.json and report.md."""
    if graphs is not None:
        _evaluate_graphs(generated, graphs, reference, train, out, graph_benchmark, graph_kernel)
        return
    if generated is None:
        raise _fail("give GENERATED (molecules) or --graphs (graphs)")
    if graph_benchmark is not None or graph_kernel is not None:
        raise _fail("--graph-benchmark and --graph-kernel need --graphs")
    from molgen.commands.evaluate import output_paths, run_evaluation

    with _reported():
        evaluation = run_evaluation(
            generated,
            out,
            reference=reference,
            n=n,
            seed=seed,
            metrics=metrics or None,
            n_jobs=jobs,
            cache_dir=cache_dir,
            plots=plots,
            wandb=wandb,
            progress=progress,
            benchmark=benchmark.value,
            test=test,
            test_scaffolds=test_scaffolds,
            train=train,
            max_atoms=max_atoms,
        )
    for key, value in evaluation.metrics.items():
        _echo(f"  {key:>18s}: {value:.4f}")
    _echo(f"report written to {out} and {output_paths(out)['markdown']}")


def _evaluate_graphs(
    generated: Path | None,
    graphs: Path,
    reference: Path | None,
    train: Path | None,
    out: Path,
    benchmark: str | None,
    kernel: str | None,
) -> None:
    """``molgen evaluate --graphs``: the graph report, printed and written."""
    if generated is not None:
        raise _fail("give GENERATED (molecules) or --graphs (graphs), not both")
    from molgen.commands.evaluate_graphs import run_graph_evaluation

    with _reported():
        evaluation = run_graph_evaluation(
            graphs, reference, out, train=train, benchmark=benchmark, kernel=kernel
        )
    for key, value in evaluation.metrics.items():
        _echo(f"  {key:>18s}: {value:.6g}")
    _echo(f"report written to {out} and {out.with_suffix('.md')}")
