"""Training speed: milliseconds per critic step and per generator step, and the share of time
spent in periodic evaluation, measured by running `molgen train` itself.

    python scripts/bench_train.py                      # batch 16/32/128, one CPU thread
    python scripts/bench_train.py --steps 300 --batch-sizes 32
    python scripts/bench_train.py --compile            # also with train.compile=true, same run
    python scripts/bench_train.py --floor              # matrix-product floor vs the 3x budget

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
    from baselines.molgan_port import make_iteration

    from molgen.training.steps import real_batch

    torch.set_num_threads(1)
    state, rt = trainer_state(batch)
    vocab = state.vocab
    iteration = make_iteration(vocab.max_atoms, vocab.num_atom_types, vocab.num_bond_types)
    times = []
    for i in range(rounds + 5):  # 5 warm-up iterations
        x, adj = real_batch(state, rt)
        start = time.perf_counter()
        iteration(x, adj)
        if i >= 5:
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def trainer_state(batch: int):
    """The trainer's state (configs/qm9_5k.yaml: MolGAN's default architecture on the bundled
    QM9 sample, batch ``batch``) and its single-process CPU runtime."""
    import torch

    from molgen.config import load_config
    from molgen.data import load_molecule_dataset
    from molgen.training.distributed import Distributed
    from molgen.training.state import Runtime, init_state

    cfg = load_config(ROOT / "configs/qm9_5k.yaml", [f"train.batch_size={batch}"])
    state = init_state(cfg, load_molecule_dataset(cfg.data), torch.device("cpu"))
    # Nothing is saved: the path would only be named if a loss diverged.
    checkpoint = Path(tempfile.gettempdir()) / "bench_train_checkpoint.pt"
    return state, Runtime.create(state, Distributed(), torch.device("cpu"), checkpoint)


def matmul_floor(batch: int) -> dict[str, tuple[float, int, int, float]]:
    """Per iteration of molgen (the trainer's own step functions) and of the port replica
    (both with Adam): GFLOP, ops, matrix products, and the ms those matrix products take
    replayed alone back to back (same shapes, one thread): a floor for any implementation
    that keeps the same products."""
    import torch
    from baselines.molgan_port import make_iteration
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    from molgen.training.steps import critic_step, generate, generator_step, real_batch

    class Recorder(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops, self.products, self.flops = 0, [], 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            self.ops += 1
            if func._overloadpacket in flop_registry:
                self.flops += flop_registry[func._overloadpacket](*args, **kwargs, out_val=out)
                copies = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args]
                self.products.append((func, copies, kwargs))
            return out

    def replay_ms(products, rounds=20):
        for func, args, kwargs in products:  # warm-up
            func(*args, **kwargs)
        start = time.perf_counter()
        for _ in range(rounds):
            for func, args, kwargs in products:
                func(*args, **kwargs)
        return 1e3 * (time.perf_counter() - start) / rounds

    torch.set_num_threads(1)
    state, rt = trainer_state(batch)
    n, a, r = state.vocab.max_atoms, state.vocab.num_atom_types, state.vocab.num_bond_types

    def molgen_iteration(x, adj):  # one critic step + one generator step of the trainer
        critic_step(state, rt, (x, adj), 0.5)
        generator_step(state, rt, generate(state, rt, 0.5))

    results = {}
    for name, iteration in (("molgen", molgen_iteration), ("port", make_iteration(n, a, r))):
        iteration(*real_batch(state, rt))  # warm-up outside the recording
        recorder = Recorder()
        with recorder:
            iteration(*real_batch(state, rt))
        floor = replay_ms(recorder.products)
        results[name] = (recorder.flops / 1e9, recorder.ops, len(recorder.products), floor)
    return results


def print_floor(batch_sizes: list[int], rounds: int) -> None:
    print("per iteration (critic step + generator step), 1 CPU thread; floor = the iteration's")
    print("matrix products replayed alone, back to back, same shapes; budget = port here / 3")
    header = ("batch", "GFLOP", "ops", "products", "floor ms", "port GFLOP", "port ops")
    print(
        "{:>5} {:>7} {:>5} {:>8} {:>8} {:>10} {:>8} {:>9} {:>9}".format(
            *header, "port here", "3x budget"
        )
    )
    for batch in batch_sizes:
        floor = matmul_floor(batch)
        gflop, ops, products, floor_ms = floor["molgen"]
        port_gflop, port_ops, _, _ = floor["port"]
        port_ms = time_port_replica(batch, rounds)
        print(
            f"{batch:5d} {gflop:7.2f} {ops:5d} {products:8d} {floor_ms:8.1f} {port_gflop:10.2f} "
            f"{port_ops:8d} {port_ms:9.1f} {port_ms / 3:9.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 128])
    parser.add_argument("--steps", type=int, default=200, help="generator steps per measurement")
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument(
        "--compile", action="store_true", help="train.compile=true (compile time is excluded)"
    )
    parser.add_argument(
        "--eval-steps", type=int, default=1000, help="steps of the evaluation-cost run"
    )
    parser.add_argument(
        "--processes", type=int, nargs="*", default=[], help="e.g. 1 2: torchrun scaling"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="only print each iteration's FLOPs and matrix-product floor against 1/3 of the port",
    )
    args = parser.parse_args(argv)
    if args.processes and args.compile:
        parser.error("--compile is single-process (train.compile is refused under torchrun)")
    if args.processes and args.processes[0] != 1:
        parser.error("--processes must start with 1 (the baseline of the scaling efficiency)")
    if args.floor:
        print_floor(args.batch_sizes, rounds=max(20, args.steps // 5))
        return
    common = ["train.threads=1", f"gan.n_critic={args.n_critic}", "logging.log_every=10"]
    modes = {"eager": []} | ({"compiled": ["train.compile=true"]} if args.compile else {})

    print(
        f"training speed, 1 CPU thread, n_critic={args.n_critic}, "
        f"{args.steps} generator steps per run"
    )
    print("iteration = one critic step + one generator step (ms); port = MolGAN-pytorch")
    header = ("batch", "mode", "critic", "generator", "iteration", "port here", "speed-up")
    print(
        "{:>5} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>11} {:>8}".format(
            *header, "port quoted", "speed-up"
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batch_sizes:
            # The port is timed once per batch size, between the modes, so every row's ratio
            # is against the same measurement.
            port_here = time_port_replica(batch, rounds=max(20, args.steps // 5))
            quoted = PORT_MS_PER_ITERATION.get(batch)
            for mode, extra in modes.items():
                overrides = [
                    *common,
                    *extra,
                    f"train.batch_size={batch}",
                    f"train.steps={args.steps}",
                    "train.eval_every=1000000",
                ]
                record = run_training(Path(tmp) / f"b{batch}_{mode}", overrides)
                critic_ms = 1e3 * record["time/critic_s"] / (args.steps * args.n_critic)
                generator_ms = 1e3 * record["time/generator_s"] / args.steps
                ours = critic_ms + generator_ms
                quoted_cols = (
                    f"{quoted:11.1f} {quoted / ours:7.2f}x" if quoted else f"{'-':>11} {'-':>8}"
                )
                compile_note = (
                    f"   (compiled in {record['time/compile_s']:.0f} s, excluded)"
                    if "time/compile_s" in record
                    else ""
                )
                print(
                    f"{batch:5d} {mode:>8} {critic_ms:8.2f} {generator_ms:9.2f} {ours:9.2f} "
                    f"{port_here:9.2f} {port_here / ours:7.2f}x {quoted_cols}{compile_note}"
                )

        # Evaluation share with the default config's cadence (every 500 steps, 1000 molecules).
        record = run_training(Path(tmp) / "eval", [*common, f"train.steps={args.eval_steps}"])
        train_s = record["time/critic_s"] + record["time/generator_s"]
        eval_s = record["time/eval_s"]
        print(
            f"\nevaluation at configs/qm9_5k.yaml cadence ({args.eval_steps} steps): "
            f"{eval_s:.1f} s of {train_s + eval_s:.1f} s = "
            f"{100 * eval_s / (train_s + eval_s):.1f}% of training time"
        )

        if args.processes:
            batch = 32
            print(
                "\ndata-parallel scaling (torchrun, gloo, 1 thread per process, "
                f"batch {batch} per process)"
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
                    f"{nproc:9d} {throughput:9.0f} {throughput / base:7.2f}x "
                    f"{throughput / (nproc * base):9.0%}"
                )


if __name__ == "__main__":
    main()
