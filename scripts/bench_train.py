"""Training speed: milliseconds per critic step and per generator step, and the share of time
spent in periodic evaluation, measured by running `molgen train` itself.

    python scripts/bench_train.py                      # batch 16/32/128, one CPU thread
    python scripts/bench_train.py --steps 300 --batch-sizes 32

Each measurement is a real `molgen train` run on the bundled QM9 sample with MolGAN's default
architecture (configs/qm9_5k.yaml); the trainer logs cumulative seconds spent in critic steps,
generator steps and evaluation, which this script reads from metrics.jsonl.

Baselines: the most used PyTorch port of MolGAN, (a) as quoted in the issue for this class of
machine (one critic + one generator step, one thread) and (b) timed in this same run through
a replica of its training iteration (scripts/baselines/molgan_port.py), on the same data.
With `--processes 1 2` it also runs data-parallel training under torchrun and reports
throughput (graphs/s through the critic) and scaling efficiency.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
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


def time_port_replica(batch: int, rounds: int) -> float:
    """Median ms per iteration of the port replica on real QM9 graphs, one thread."""
    import torch
    import torch.nn.functional as F
    from baselines.molgan_port import make_iteration

    from molgen.config import DataConfig
    from molgen.data import load_dataset

    torch.set_num_threads(1)
    data = load_dataset(DataConfig())
    vocab = data.vocab
    iteration = make_iteration(vocab.max_atoms, vocab.num_atom_types, vocab.num_bond_types)
    times = []
    for i in range(rounds + 5):  # 5 warm-up iterations
        idx = torch.randint(len(data.train), (batch,))
        x = F.one_hot(data.train.x[idx].long(), vocab.num_atom_types).float()
        adj = F.one_hot(data.train.adj[idx].long(), vocab.num_bond_types).float()
        start = time.perf_counter()
        iteration(x, adj)
        if i >= 5:
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


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
    parser.add_argument(
        "--processes", type=int, nargs="*", default=[], help="e.g. 1 2: torchrun scaling"
    )
    args = parser.parse_args(argv)
    if args.processes and args.processes[0] != 1:
        parser.error("--processes must start with 1 (the baseline of the scaling efficiency)")
    common = ["train.threads=1", f"gan.n_critic={args.n_critic}", "logging.log_every=10"]

    print(
        f"training speed, 1 CPU thread, n_critic={args.n_critic}, {args.steps} generator steps per run"
    )
    print("iteration = one critic step + one generator step (ms); port = MolGAN-pytorch")
    header = (
        "batch",
        "critic",
        "generator",
        "iteration",
        "port here",
        "speed-up",
        "port quoted",
        "speed-up",
    )
    print("{:>5} {:>8} {:>9} {:>9} {:>9} {:>8} {:>11} {:>8}".format(*header))
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batch_sizes:
            overrides = [
                *common,
                f"train.batch_size={batch}",
                f"train.steps={args.steps}",
                "train.eval_every=1000000",
            ]
            record = run_training(Path(tmp) / f"b{batch}", overrides)
            critic_ms = 1e3 * record["time/critic_s"] / (args.steps * args.n_critic)
            generator_ms = 1e3 * record["time/generator_s"] / args.steps
            ours = critic_ms + generator_ms
            port_here = time_port_replica(batch, rounds=max(20, args.steps // 5))
            quoted = PORT_MS_PER_ITERATION.get(batch)
            quoted_cols = (
                f"{quoted:11.1f} {quoted / ours:7.2f}x" if quoted else f"{'-':>11} {'-':>8}"
            )
            print(
                f"{batch:5d} {critic_ms:8.2f} {generator_ms:9.2f} {ours:9.2f} {port_here:9.2f} "
                f"{port_here / ours:7.2f}x {quoted_cols}"
            )

        # Evaluation share with the default config's cadence (every 500 steps, 1000 molecules).
        record = run_training(Path(tmp) / "eval", [*common, f"train.steps={args.eval_steps}"])
        train_s = record["time/critic_s"] + record["time/generator_s"]
        eval_s = record["time/eval_s"]
        print(
            f"\nevaluation at configs/qm9_5k.yaml cadence ({args.eval_steps} steps): {eval_s:.1f} s "
            f"of {train_s + eval_s:.1f} s = {100 * eval_s / (train_s + eval_s):.1f}% of training time"
        )

        if args.processes:
            batch = 32
            print(
                f"\ndata-parallel scaling (torchrun, gloo, 1 thread per process, batch {batch} per process)"
            )
            print(f"{'processes':>9} {'graphs/s':>9} {'speed-up':>8} {'efficiency':>10}")
            base = None
            for nproc in args.processes:
                overrides = [
                    *common,
                    f"train.batch_size={batch}",
                    f"train.steps={args.steps}",
                    "train.eval_every=1000000",
                ]
                record = run_training(Path(tmp) / f"p{nproc}", overrides, nproc=nproc)
                seconds = record["time/critic_s"] + record["time/generator_s"]
                throughput = (
                    nproc * batch * args.n_critic * args.steps / seconds
                )  # real graphs seen by critics
                base = base or throughput
                print(
                    f"{nproc:9d} {throughput:9.0f} {throughput / base:7.2f}x {throughput / (nproc * base):9.0%}"
                )


if __name__ == "__main__":
    main()
