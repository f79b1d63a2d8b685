"""Sample quality against training: trains MolGAN for a fixed number of generator steps (or
minutes) and, at intervals, scores samples of the (averaged) generator.

    python scripts/bench_quality.py --steps 3000 --intervals 3     # full QM9 (configs/qm9.yaml)
    python scripts/bench_quality.py --minutes 30                   # time-boxed instead
    python scripts/bench_quality.py --steps 2000 --tune-temperature generator.constraint=valence
    python scripts/bench_quality.py --run runs/bench_quality/run --tune-temperature  # no training
    python scripts/bench_quality.py --config configs/moses.yaml --minutes 120 -n 30000  # MOSES

Each row: training minutes and ms per generator step (the trainer's own step timers, so a row
converts to CPU minutes), strict and relaxed validity, uniqueness, novelty against the
training split, FCD against the held-out test split, V*U*N (validity * uniqueness * novelty),
and what the validity owes to the sampler's constraints (``validity_unconstrained_logits``,
``constraint_free_share``: molgen.metrics.CONSTRAINT_DEFINITIONS). The run folder
keeps ``train.smi``, ``val.smi`` and ``test.smi``.

``--benchmark moses`` (the default when the config's ``data.name`` is ``moses``) also scores
each row's samples with MOSES' metrics (``molgen evaluate --benchmark moses``: the same
samples, not drawn again) against MOSES' test, scaffold-test and training sets from the molsets
wheel (the test sets with the statistics MOSES ships for them), or the files ``--moses-test``,
``--moses-test-scaffolds``, ``--moses-train``, whose statistics are built once per run (and
cached under the config's ``data.cache_dir``). A row
then also has ``moses`` (MOSES' keys) and ``samples_per_s`` (molecules per second of the
sampling call, decoding to SMILES included), and prints them on a line of its own; and the
ring statistics of the MOSES-valid samples (duplicates included) with their mean QED and SA,
printed beside the test set's on a third line: ``aromatic_rings``, ``ring_size_hist``,
``large_ring_share`` (molgen.metrics.rings.RING_DEFINITIONS), ``qed`` and ``sa`` (molgen's
metrics: over strict-valid samples). The test set's figures (quality.json's
``moses_test_figures``) are computed once per run: its ring statistics on a seeded subset of
20,000 molecules (``TEST_RING_MOLECULES``), its mean QED and SA on all of it (from the
statistics MOSES ships for its own test set).

``--tune-temperature`` then scores a grid of sampling temperatures (atoms x bonds) on the
validation split (FCD against ``val.smi``, ``--tune-samples`` each), picks the lowest FCD (or,
with ``--max-fcd F``, the highest V*U*N among the settings with FCD(val) <= F), and scores that
setting on the test split: temperatures are never chosen on test; ``--sample-temperature A,B``
scores a setting chosen so. ``--run DIR`` scores (and tunes) a run folder that is already
trained instead of training one.

Training time excludes the measurements: the run is trained in ``--intervals`` segments, each
resumed from the last checkpoint. Writes --out/quality.json and --out/quality.png. Extra
arguments are dotted config overrides.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path

from molgen.chem.moses import classify_smiles_moses
from molgen.choices import BENCHMARK_NAMES
from molgen.config import Config, load_config
from molgen.metrics import MOLGEN, Reference, compute_metrics, get_benchmark
from molgen.metrics.moses import MOSES, moses_references
from molgen.metrics.rings import RING_SIZE_LABELS, ring_statistics_of_smiles, seeded_subset
from molgen.plotting import pyplot, save_figure
from molgen.training import train
from molgen.training.constraints import constraint_report
from molgen.training.run import load_run
from molgen.training.sampling import generate_smiles

METRICS = ("validity", "validity_relaxed", "uniqueness", "novelty")
COLUMNS = (*METRICS, "fcd_test", "vun", "validity_unconstrained_logits", "constraint_free_share")
ATOM_TEMPERATURES = (0.8, 1.0, 1.25, 1.5)
BOND_TEMPERATURES = (1.0, 1.5, 2.0, 3.0)
#: MOSES keys on a row's printed line (quality.json has them all).
MOSES_PRINTED = (
    "valid",
    "unique@10000",
    "Novelty",
    "Filters",
    "FCD/Test",
    "SNN/Test",
    "Frag/Test",
    "Scaf/Test",
    "FCD/TestSF",
    "IntDiv",
)
#: MOSES rows: the sample figures printed beside the test set's (quality.json's
#: ``moses_test_figures``).
MOSES_FIGURES = ("aromatic_rings", "ring_size_hist", "large_ring_share", "qed", "sa")
#: Test-set molecules whose ring statistics are computed (a seeded subset; about 2 s).
TEST_RING_MOLECULES = 20_000


def segment_time(run_dir: Path) -> tuple[float, int]:
    """Seconds of critic and generator steps in the last training segment (the trainer's
    cumulative timers restart at each resume) and the step it ended at."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if "time/generator_s" in r][-1]
    return last["time/critic_s"] + last["time/generator_s"], last["step"]


def score(
    run_dir: Path,
    n: int,
    seed: int,
    references: dict[str, Reference],
    held_out: str,
    sample_temperature: tuple[float, float] | None = None,
    moses: dict[str, Reference] | None = None,
) -> dict:
    """The row's metrics for ``n`` samples of the run's (averaged) generator; FCD against
    ``references[held_out]``. With ``moses`` (:func:`molgen.metrics.moses.moses_references`),
    also MOSES' metrics of the same samples (``moses``) and the sampling rate
    (``samples_per_s``)."""
    run = load_run(run_dir, train_smiles=False)  # the references hold the splits
    kwargs = dict(seed=seed, sample_temperature=sample_temperature)
    start = time.perf_counter()
    smiles = [s for batch in generate_smiles(run.generator, run.vocab, n, **kwargs) for s in batch]
    sampling_s = time.perf_counter() - start
    row = compute_metrics(smiles, references["train"], metrics=METRICS)
    row[f"fcd_{held_out}"] = compute_metrics(smiles, references[held_out], metrics=["fcd"])["fcd"]
    row["vun"] = row["validity"] * row["uniqueness"] * row["novelty"]
    row |= constraint_report(run.generator, run.vocab, smiles, **kwargs)
    if moses is not None:
        row["samples_per_s"] = n / sampling_s
        row["moses"] = compute_metrics(smiles, moses, benchmark=MOSES)
        row |= sample_figures(smiles)
    return row


def sample_figures(smiles: list[str | None]) -> dict:
    """:data:`MOSES_FIGURES` of samples: ring statistics of the MOSES-valid ones (duplicates
    included), mean QED and SA of the strict-valid ones (molgen's ``qed`` and ``sa``)."""
    valid = [canonical for canonical, reason in classify_smiles_moses(smiles) if reason is None]
    return {**ring_statistics_of_smiles(valid), **compute_metrics(smiles, metrics=("qed", "sa"))}


def test_set_figures(test: Reference) -> dict:
    """:data:`MOSES_FIGURES` of a MOSES test set: ring statistics of a seeded subset of
    :data:`TEST_RING_MOLECULES` molecules (``ring_molecules`` says how many), mean QED and SA
    of all of them (the statistics the FCD and property distances already read)."""
    subset = seeded_subset(test.canonical, TEST_RING_MOLECULES)
    return {
        "ring_molecules": len(subset),
        **ring_statistics_of_smiles(subset),
        "qed": float(test.feature("qed").mean()),
        "sa": float(test.feature("sa").mean()),
    }


def load_references(run_dir: Path, cfg: Config) -> dict[str, Reference]:
    """The run folder's splits as metric references (statistics cached under
    ``cfg.data.cache_dir``); the trainer wrote them canonical, so they are not parsed again."""
    return {
        split: Reference.from_canonical(
            (run_dir / f"{split}.smi").read_text().splitlines(), cache_dir=cfg.data.cache_dir
        )
        for split in ("train", "val", "test")
    }


def tune_temperature(
    run_dir: Path, n: int, references: dict[str, Reference], max_fcd: float | None = None
) -> tuple[tuple[float, float], list[dict]]:
    """Score the grid on the validation split; the setting with the lowest FCD(val), or, with
    ``max_fcd``, the highest V*U*N among those with FCD(val) <= ``max_fcd`` (the lowest FCD(val)
    when none is)."""
    rows = []
    for atoms, bonds in itertools.product(ATOM_TEMPERATURES, BOND_TEMPERATURES):
        row = score(run_dir, n, 10_000, references, "val", (atoms, bonds))
        rows.append({"atoms": atoms, "bonds": bonds, **row})
        print(
            f"  val: atoms {atoms:4.2f} bonds {bonds:4.2f}: "
            + " ".join(f"{k}={row[k]:.4f}" for k in (*METRICS, "fcd_val", "vun")),
            flush=True,
        )
    return choose_temperature(rows, max_fcd), rows


def choose_temperature(grid: list[dict], max_fcd: float | None) -> tuple[float, float]:
    """The rule of :func:`tune_temperature` on scored rows (``atoms``, ``bonds``, ``fcd_val``,
    ``vun``)."""
    within = [r for r in grid if max_fcd is not None and r["fcd_val"] <= max_fcd]
    best = max(within, key=lambda r: r["vun"]) if within else min(grid, key=lambda r: r["fcd_val"])
    return best["atoms"], best["bonds"]


def temperature_pair(text: str) -> tuple[float, float]:
    """``"ATOMS,BONDS"`` -> two positive finite sampling temperatures."""
    try:
        atoms, bonds = (float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected ATOMS,BONDS (e.g. 1.0,1.5), got {text!r}"
        ) from None
    if not all(math.isfinite(t) and t > 0 for t in (atoms, bonds)):
        raise argparse.ArgumentTypeError(f"temperatures must be positive and finite: {text!r}")
    return atoms, bonds


def plot(rows: list[dict], path: Path, x: str) -> None:
    fig, ax = pyplot().subplots(figsize=(6, 4))
    for key in (*METRICS, "vun"):
        ax.plot([r[x] for r in rows], [r[key] for r in rows], marker="o", label=key)
    ax.set_xlabel("training minutes (CPU)" if x == "minutes" else "generator steps")
    ax.set_ylim(0, 1.02)
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def figures_line(row: dict, test: dict) -> str:
    """The row's :data:`MOSES_FIGURES`, each followed by the test set's in parentheses."""

    def pair(key: str) -> str:
        return f"{row[key]:.3f} ({test[key]:.3f})"

    sizes = "/".join(RING_SIZE_LABELS)
    shares = "/".join(f"{row['ring_size_hist'][label]:.2f}" for label in RING_SIZE_LABELS)
    test_shares = "/".join(f"{test['ring_size_hist'][label]:.2f}" for label in RING_SIZE_LABELS)
    return (
        f"  rings (test): aromatic/mol={pair('aromatic_rings')} "
        f"8+ share={pair('large_ring_share')} sizes {sizes}={shares} ({test_shares}) "
        f"QED={pair('qed')} SA={pair('sa')}"
    )


def print_row(row: dict, test_figures: dict | None = None) -> None:
    """The row's line; MOSES rows add MOSES' metrics and, with ``test_figures``
    (:func:`test_set_figures`), the ring statistics beside the test set's."""
    print(
        f"{row['minutes']:7.1f} {row['step']:7d} {row['ms_per_step']:7.1f} "
        + " ".join(f"{row.get(c, math.nan):>10.4f}" for c in COLUMNS),
        flush=True,
    )
    if "moses" in row:
        print(
            f"  moses: samples/s={row['samples_per_s']:.0f} "
            + " ".join(f"{k}={row['moses'].get(k, math.nan):.4f}" for k in MOSES_PRINTED),
            flush=True,
        )
    if "aromatic_rings" in row and test_figures is not None:
        print(figures_line(row, test_figures), flush=True)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="generator steps to train (fixed work)")
    budget.add_argument("--minutes", type=float, help="training minutes (default 30)")
    budget.add_argument("--run", type=Path, help="score this trained run folder; no training")
    parser.add_argument("--intervals", type=int, default=6, help="measurements along the way")
    parser.add_argument("-n", "--samples", type=int, default=10_000, help="samples per score")
    parser.add_argument("--tune-temperature", action="store_true", help="choose on val")
    parser.add_argument("--tune-samples", type=int, default=2_000)
    parser.add_argument(
        "--max-fcd", type=float, help="tune for the best V*U*N with FCD(val) at most this"
    )
    parser.add_argument(
        "--sample-temperature",
        type=temperature_pair,
        help="ATOMS,BONDS: score with these sampling temperatures (chosen on val) instead",
    )
    parser.add_argument(
        "--benchmark",
        choices=BENCHMARK_NAMES,
        help="moses: also MOSES' metrics per row (default when data.name is moses)",
    )
    parser.add_argument("--moses-test", type=Path, help="MOSES test set (default: MOSES' own)")
    parser.add_argument(
        "--moses-test-scaffolds", type=Path, help="MOSES scaffold test set (default: MOSES' own)"
    )
    parser.add_argument("--moses-train", type=Path, help="MOSES training set (default: MOSES' own)")
    parser.add_argument("--config", default="configs/qm9.yaml")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_quality"))
    parser.add_argument("overrides", nargs="*", help="dotted key=value config overrides")
    args = parser.parse_intermixed_args(argv)  # overrides may come before options

    trains = args.run is None
    minutes = 30.0 if trains and args.steps is None and args.minutes is None else args.minutes
    overrides = [
        *args.overrides,
        "train.eval_every=100000000",  # measured here, outside training time
        "logging.wandb.mode=disabled",
    ]
    if minutes is not None:
        overrides += ["train.steps=100000000", f"train.max_minutes={minutes / args.intervals}"]
    else:  # fixed work: the config's time cap would stop a slow machine short of --steps
        overrides.append("train.max_minutes=null")
    run_dir = args.out / "run" if trains else args.run
    if trains and run_dir.exists():
        raise SystemExit(f"{run_dir} exists; remove it or choose another --out")
    run_cfg = (
        load_config(args.config, args.overrides) if trains else load_config(run_dir / "config.yaml")
    )
    benchmark = get_benchmark(
        args.benchmark or (MOSES if run_cfg.data.name == "moses" else MOLGEN).name
    )
    scores_moses = benchmark is MOSES  # MOSES' metrics, against its own sets, on every row
    moses_files = {
        "test": args.moses_test,
        "test_scaffolds": args.moses_test_scaffolds,
        "train": args.moses_train,
    }
    if not scores_moses and any(path is not None for path in moses_files.values()):
        parser.error(
            f"--moses-test/--moses-test-scaffolds/--moses-train need --benchmark {MOSES.name}"
        )
    moses = (  # built once: each statistic is computed on first use and kept for every row
        moses_references(moses_files, cache_dir=run_cfg.data.cache_dir) if scores_moses else None
    )
    test_figures = None if moses is None else test_set_figures(moses["test"])
    references: dict[str, Reference] = {}
    rows: list[dict] = []
    trained_s = 0.0
    print(
        f"{'minutes':>7} {'step':>7} {'ms/step':>7} " + " ".join(f"{c[:10]:>10}" for c in COLUMNS),
        flush=True,
    )
    if not trains:  # trained elsewhere: its training time is not measured here
        references = load_references(run_dir, run_cfg)
        rows.append(
            {
                "minutes": math.nan,
                "step": segment_time(run_dir)[1],
                "ms_per_step": math.nan,
                **score(
                    run_dir, args.samples, 0, references, "test", args.sample_temperature, moses
                ),
            }
        )
        print_row(rows[-1], test_figures)
    for i in range(args.intervals if trains else 0):
        steps = (
            [] if args.steps is None else [f"train.steps={args.steps * (i + 1) // args.intervals}"]
        )
        cfg = load_config(args.config, [*overrides, *steps])
        before = rows[-1]["step"] if rows else 0
        train(cfg, run_dir, resume=i > 0, progress=False)
        seconds, step = segment_time(run_dir)
        trained_s += seconds
        references = references or load_references(run_dir, cfg)
        row = {
            "minutes": trained_s / 60,
            "step": step,
            "ms_per_step": 1000 * seconds / max(step - before, 1),
            **score(run_dir, args.samples, i, references, "test", args.sample_temperature, moses),
        }
        rows.append(row)
        print_row(row, test_figures)
    result = {"config": args.config, "overrides": args.overrides, "rows": rows}
    if scores_moses:
        result["moses_references"] = {
            k: None if v is None else str(v) for k, v in moses_files.items()
        }
        result["moses_test_figures"] = test_figures
    if args.tune_temperature:
        chosen, grid = tune_temperature(run_dir, args.tune_samples, references, args.max_fcd)
        final = {**rows[-1], **score(run_dir, args.samples, 0, references, "test", chosen, moses)}
        print(f"sampling temperature chosen on val: atoms {chosen[0]}, bonds {chosen[1]}")
        print_row(final, test_figures)
        result |= {"tuned": {"atoms": chosen[0], "bonds": chosen[1], **final}, "grid": grid}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(result, indent=2))
    plot(rows, args.out / "quality.png", "minutes" if minutes is not None else "step")
    print(f"wrote {args.out / 'quality.png'} and {args.out / 'quality.json'}")
    return rows


if __name__ == "__main__":
    main()
