"""Sample quality against training time: trains MolGAN for M minutes and, at intervals,
samples 10,000 molecules and prints strict validity, relaxed validity, uniqueness and novelty.

    python scripts/bench_quality.py --minutes 30                  # full QM9 (configs/qm9.yaml)
    python scripts/bench_quality.py --minutes 5 --config configs/qm9_5k.yaml gan.pack=2

Training time excludes the measurements: the run is trained in `--intervals` time-boxed
segments (train.max_minutes), each resumed from the last checkpoint, and measured in between
by sampling from the checkpoint with `--jobs` processes. Writes the curve to --out/quality.png
and the table to --out/quality.json. Extra arguments are dotted config overrides.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from molgen.config import load_config
from molgen.metrics import Reference, compute_metrics
from molgen.plotting import pyplot, save_figure
from molgen.training import load_checkpoint, load_reference_smiles, sample_smiles, train

METRICS = ("validity", "validity_relaxed", "uniqueness", "novelty")


def plot(rows: list[dict], path: Path) -> None:
    fig, ax = pyplot().subplots(figsize=(6, 4))
    for key in METRICS:
        ax.plot([r["minutes"] for r in rows], [r[key] for r in rows], marker="o", label=key)
    ax.set_xlabel("training minutes (CPU)")
    ax.set_ylim(0, 1.02)
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--intervals", type=int, default=6)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2, help="processes for sampling")
    parser.add_argument("--config", default="configs/qm9.yaml")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_quality"))
    parser.add_argument("overrides", nargs="*", help="dotted key=value config overrides")
    args = parser.parse_args(argv)

    segment = args.minutes / args.intervals
    overrides = [
        *args.overrides,
        "train.steps=100000000",  # time-boxed instead
        f"train.max_minutes={segment}",
        "train.eval_every=100000000",  # measured here, outside training time
        "logging.wandb.mode=disabled",
    ]
    cfg = load_config(args.config, overrides)
    run_dir = args.out / "run"
    if run_dir.exists():
        raise SystemExit(f"{run_dir} exists; remove it or choose another --out")
    reference = None
    rows: list[dict] = []
    print(f"{'minutes':>7} {'step':>7} " + " ".join(f"{m:>16}" for m in METRICS), flush=True)
    for i in range(args.intervals):
        train(cfg, run_dir, resume=i > 0, progress=False)
        if reference is None:
            reference = Reference.from_smiles(
                load_reference_smiles(run_dir), cache_dir=cfg.data.cache_dir
            )
        t0 = time.perf_counter()
        smiles = sample_smiles(run_dir, args.samples, seed=i, jobs=args.jobs)
        metrics = compute_metrics(smiles, reference, metrics=METRICS)
        step = load_checkpoint(run_dir)["step"]
        rows.append({"minutes": segment * (i + 1), "step": step, **metrics})
        print(
            f"{segment * (i + 1):7.1f} {step:7d} "
            + " ".join(f"{metrics[m]:16.4f}" for m in METRICS)
            + f"   (measured in {time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(rows, indent=2))
    plot(rows, args.out / "quality.png")
    print(f"wrote {args.out / 'quality.png'} and {args.out / 'quality.json'}")
    return rows


if __name__ == "__main__":
    main()
