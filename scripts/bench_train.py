"""Training speed: milliseconds per critic step and per generator step, and the share of time
spent in periodic evaluation, measured by running `molgen train` itself.

    python scripts/bench_train.py                      # batch 16/32/128, one CPU thread
    python scripts/bench_train.py --steps 300 --batch-sizes 32

Each measurement is a real `molgen train` run on the bundled QM9 sample with MolGAN's default
architecture (configs/qm9_5k.yaml); the trainer logs cumulative seconds spent in critic steps,
generator steps and evaluation, which this script reads from metrics.jsonl. The reference
figures for the most used PyTorch port of MolGAN (one critic + one generator step, one CPU
thread, on this class of machine) are quoted from the issue, not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORT_MS_PER_ITERATION = {16: 22.0, 32: 30.0, 128: 96.0}  # quoted: critic step + generator step


def run_training(run_dir: Path, overrides: list[str], nproc: int = 1) -> dict[str, float]:
    """Run `molgen train` (under torchrun when nproc > 1) and return the last logged record."""
    if nproc == 1:
        launcher = [sys.executable, "-m", "molgen"]
    else:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "molgen",
        ]
    command = [
        *launcher,
        "train",
        "configs/qm9_5k.yaml",
        *overrides,
        "--out",
        str(run_dir),
        "--no-progress",
    ]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {k: v for r in records for k, v in r.items() if v is not None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 128])
    parser.add_argument("--steps", type=int, default=200, help="generator steps per measurement")
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument(
        "--eval-steps", type=int, default=1000, help="steps of the evaluation-cost run"
    )
    args = parser.parse_args(argv)
    common = ["train.threads=1", f"gan.n_critic={args.n_critic}", "logging.log_every=10"]

    print(
        f"molgen training speed, 1 CPU thread, n_critic={args.n_critic}, {args.steps} generator steps"
    )
    print(
        f"{'batch':>5} {'critic ms':>10} {'gen ms':>8} {'iter ms':>8} {'port ms':>8} {'speed-up':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batch_sizes:
            record = run_training(
                Path(tmp) / f"b{batch}",
                [
                    *common,
                    f"train.batch_size={batch}",
                    f"train.steps={args.steps}",
                    "train.eval_every=1000000",
                ],
            )
            critic_ms = 1e3 * record["time/critic_s"] / (args.steps * args.n_critic)
            generator_ms = 1e3 * record["time/generator_s"] / args.steps
            iteration_ms = critic_ms + generator_ms
            port = PORT_MS_PER_ITERATION.get(batch)
            ratio = f"{port / iteration_ms:8.1f}x" if port else f"{'-':>9}"
            print(
                f"{batch:5d} {critic_ms:10.2f} {generator_ms:8.2f} {iteration_ms:8.2f} {port or '-':>8} {ratio}"
            )

        # Evaluation share with the default config's cadence (every 500 steps, 1000 molecules).
        record = run_training(Path(tmp) / "eval", [*common, f"train.steps={args.eval_steps}"])
        train_s = record["time/critic_s"] + record["time/generator_s"]
        eval_s = record["time/eval_s"]
        print(
            f"\nevaluation (configs/qm9_5k.yaml cadence, {args.eval_steps} steps): {eval_s:.1f} s of "
            f"{train_s + eval_s:.1f} s = {100 * eval_s / (train_s + eval_s):.1f}% of training time"
        )


if __name__ == "__main__":
    main()
