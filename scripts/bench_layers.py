"""Forward+backward time and peak memory of molgen's hard Gumbel-Softmax vs torch's and softmax.

    python scripts/bench_layers.py [--quick] [--threads 1]
        [--edges-only | --sites-only | --planar-only]

For each shape it times ``y = f(x); y.backward(w)`` for

- ``molgen``: ``molgen.nn.functional.gumbel_softmax(x, 0.5, hard=True)`` (estimator "st"),
- ``torch``: ``torch.nn.functional.gumbel_softmax(x, 0.5, hard=True)``,
- ``softmax``: ``torch.softmax(x / 0.5, -1)``, the floor: no noise, no sampling,

and prints milliseconds, the ratios molgen/torch and molgen/softmax, and peak memory.

A second table times the edge samplers on dense ``[B, N, N, C]`` logits, forward+backward:
``symmetric_gumbel_softmax`` and ``budgeted_symmetric_gumbel_softmax`` (random integer budgets
0..4, cost = bond order ``[0, 1, 2, 3, ...]``) with ``connect`` False, "earlier" and "join",
printed as the ratio budgeted / symmetric measured in the same round-robin.

A third table times the fragment-graph sampler at ``[B, N, S, C]``:
``site_gumbel_softmax`` (edges and attachment sites: ``SiteBudget`` and ``MaxCycle(2)``,
``connect="tree"``; random site budgets 0..3, site 0 at least 1; the backward seeds both outputs)
against ``budgeted_symmetric_gumbel_softmax`` with each node's total site budget as its budget,
``connect="tree"``, with and without ``max_cycle=2``.

A fourth table times the planar-graph sampler at ``[B, N, N, 2]`` (SPECTRE's planar graphs,
N = 64): ``constrained_symmetric_gumbel_softmax`` with ``Budget`` (degree 12) and
``NonCrossing`` (uniform random positions; in the rounds' order, and with ``rivals`` =
3N - 6), ``connect="join"``, against the same without ``NonCrossing``; the edge logits are the
planar data's density (0.088) plus the distance term a ``non_crossing`` generator starts with
(:math:`w = 10`), and each table row prints the edges per graph drawn (the data's graphs have
about 178).

Method. Threads are pinned (``torch.set_num_threads``, 1 by default) for stable numbers. The
three candidates are timed round-robin in the same run, ``--repeats`` times each, each time
over enough calls to last >= 20 ms, and the median is reported, so a slow moment on a shared
machine hits all three. Peak memory is the maximum of the running total of CPU tensor bytes
allocated minus freed during one forward+backward, from ``torch.profiler`` with
``profile_memory=True`` (each op's self allocations, in start order; inputs and the backward
seed ``w`` are allocated before and not counted).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import torch
from torch.profiler import ProfilerActivity, profile

from molgen.models.graph_generator import INITIAL_DISTANCE_WEIGHT, distance_fall
from molgen.nn.constrained import (
    Budget,
    NonCrossing,
    budgeted_symmetric_gumbel_softmax,
    constrained_symmetric_gumbel_softmax,
    site_gumbel_softmax,
)
from molgen.nn.functional import gumbel_softmax, symmetric_gumbel_softmax

SHAPES = [
    (32, 9, 5),
    (128, 9, 5),
    (1024, 9, 5),
    (32, 9, 9, 5),
    (128, 9, 9, 5),
    (1024, 9, 9, 5),
    (64, 16, 32000),
]
EDGE_SHAPES = [(1024, 9, 9, 5), (256, 27, 27, 4)]
SITE_SHAPES = [(32, 15, 12, 4), (128, 15, 12, 4)]
PLANAR_SHAPES = [(32, 64, 64, 2)]
CONNECT = (False, "earlier", "join")
TAU = 0.5

CANDIDATES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "molgen": lambda x: gumbel_softmax(x, TAU, hard=True),
    "torch": lambda x: torch.nn.functional.gumbel_softmax(x, TAU, hard=True),
    "softmax": lambda x: torch.softmax(x / TAU, -1),
}


def _step(fn: Callable, x: torch.Tensor, seed: torch.Tensor) -> None:
    x.grad = None
    fn(x).backward(seed)


def _time_once(run: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls


def peak_bytes(fn: Callable, x: torch.Tensor, seed: torch.Tensor) -> int:
    """Peak of (allocated - freed) CPU tensor bytes during one forward+backward."""
    x.grad = None
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn(x).backward(seed)
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    total = peak = 0
    for event in events:
        total += event.self_cpu_memory_usage
        peak = max(peak, total)
    return peak


def _print_header(header: str) -> None:
    print(header)
    print("-" * len(header))


def _median_times(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each run, timed round-robin."""
    calls = {}
    for name, run in runs.items():
        run()  # warm-up
        calls[name] = max(1, int(0.02 / max(_time_once(run, 1), 1e-9)))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(_time_once(run, calls[name]))
    return {name: statistics.median(values) for name, values in times.items()}


def bench_shape(shape: Sequence[int], repeats: int) -> dict[str, tuple[float, int]]:
    """Median seconds and peak bytes per candidate; "rng" is torch's uniform_ alone (no
    backward), the cost of the random numbers any Gumbel sampler must draw."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).requires_grad_()
    seed = torch.randn(shape, generator=gen)
    runs = {name: (lambda fn=fn: _step(fn, x, seed)) for name, fn in CANDIDATES.items()}
    noise = torch.empty(shape)
    runs["rng"] = noise.uniform_
    result = {name: (seconds, 0) for name, seconds in _median_times(runs, repeats).items()}
    for name, fn in CANDIDATES.items():
        result[name] = (result[name][0], peak_bytes(fn, x, seed))
    return result


def bench_edges(shape: Sequence[int], repeats: int) -> dict[str, float]:
    """Median seconds of one forward+backward of each edge sampler on ``shape``."""
    gen = torch.Generator().manual_seed(0)
    batch, n, _, classes = shape
    x = torch.randn(shape, generator=gen).requires_grad_()
    seed = torch.randn(shape, generator=gen)
    budget = torch.randint(0, 5, (batch, n), generator=gen).float()
    cost = torch.arange(classes, dtype=torch.float32)
    runs = {"symmetric": lambda: _step(lambda t: symmetric_gumbel_softmax(t, TAU), x, seed)}
    for connect in CONNECT:
        runs[f"budgeted {connect}"] = lambda connect=connect: _step(
            lambda t: budgeted_symmetric_gumbel_softmax(t, budget, cost, TAU, connect=connect),
            x,
            seed,
        )
    return _median_times(runs, repeats)


def bench_sites(shape: Sequence[int], repeats: int) -> dict[str, float]:
    """Median seconds of one forward+backward of the fragment-graph sampler and of the budgeted
    sampler on the nodes' total budgets, ``shape = (B, N, S, C)``."""
    gen = torch.Generator().manual_seed(0)
    batch, n, sites, classes = shape
    n_pairs = n * (n - 1) // 2
    bonds = torch.randn(batch, n_pairs, classes, generator=gen).requires_grad_()
    site_logits = torch.randn(batch, n_pairs, 2, sites, generator=gen).requires_grad_()
    site_budget = torch.randint(0, 4, (batch, n, sites), generator=gen).float()
    site_budget[..., 0] = torch.randint(1, 4, (batch, n), generator=gen).float()
    cost = torch.arange(classes, dtype=torch.float32)
    bond_seed = torch.randn(batch, n, n, classes, generator=gen)
    site_seed = torch.randn(batch, n, n, sites, generator=gen)

    def sites_step() -> None:
        bonds.grad = site_logits.grad = None
        edges, chosen = site_gumbel_softmax(bonds, site_logits, site_budget, cost, TAU)
        ((edges * bond_seed).sum() + (chosen * site_seed).sum()).backward()

    def budget_step(max_cycle: int | None) -> None:
        bonds.grad = None
        edges = budgeted_symmetric_gumbel_softmax(
            bonds, site_budget.sum(-1), cost, TAU, connect="tree", max_cycle=max_cycle
        )
        (edges * bond_seed).sum().backward()

    runs = {
        "sites": sites_step,
        "budget tree": lambda: budget_step(None),
        "budget forest": lambda: budget_step(2),
    }
    return _median_times(runs, repeats)


def bench_planar(shape: Sequence[int], repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds of one forward+backward of the degree-budgeted sampler with and without
    ``NonCrossing``, and the mean edges per graph each draws."""
    gen = torch.Generator().manual_seed(0)
    batch, n, _, _ = shape
    positions = torch.rand(batch, n, 2, generator=gen)
    edge = math.log(0.088 / 0.912) - distance_fall(positions, INITIAL_DISTANCE_WEIGHT)
    x = torch.stack([torch.zeros_like(edge), edge], -1).requires_grad_()  # [B, P, 2]
    seed = torch.randn(batch, n, n, 2, generator=gen)
    degree, cost = torch.full((batch, n), 12.0), torch.tensor([0.0, 1.0])
    rules = {
        "budget": lambda: (Budget(degree, cost),),
        "non-crossing": lambda: (Budget(degree, cost), NonCrossing(positions)),
        "score order": lambda: (Budget(degree, cost), NonCrossing(positions, 3 * n - 6)),
    }
    samplers = {
        name: lambda t, make=make: constrained_symmetric_gumbel_softmax(
            t, TAU, rules=make(), connect="join"
        )
        for name, make in rules.items()
    }
    edges = {
        name: fn(x).detach().argmax(-1).sum().item() / 2 / batch for name, fn in samplers.items()
    }
    runs = {name: lambda fn=fn: _step(fn, x, seed) for name, fn in samplers.items()}
    return _median_times(runs, repeats), edges


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per candidate")
    parser.add_argument("--quick", action="store_true", help="small shapes only, 3 rounds")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--edges-only", action="store_true", help="only the edge-sampler tables")
    only.add_argument("--sites-only", action="store_true", help="only the fragment-graph table")
    only.add_argument("--planar-only", action="store_true", help="only the planar-graph table")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.planar_only:
        print_planar_table(PLANAR_SHAPES, 3 if args.quick else args.repeats)
        return 0
    edges_only = args.edges_only or args.sites_only
    shapes = [] if edges_only else SHAPES[:3] if args.quick else SHAPES
    repeats = 3 if args.quick else args.repeats
    print(
        f"torch {torch.__version__}, threads={args.threads}, tau={TAU}, fwd+bwd, median of "
        f"{repeats} round-robin rounds"
    )
    if shapes:
        header = (
            f"{'shape':>18} | {'molgen ms':>9} {'torch ms':>9} {'softmax ms':>10} | "
            f"{'vs torch':>8} {'vs softmax':>10} {'rng/softmax':>11} | "
            f"{'molgen MB':>9} {'torch MB':>9} "
            f"{'softmax MB':>10} | {'mem/torch':>9}"
        )
        _print_header(header)
        for shape in shapes:
            res = bench_shape(shape, repeats)
            (t_m, m_m), (t_t, m_t), (t_s, m_s) = res["molgen"], res["torch"], res["softmax"]
            t_rng = res["rng"][0]
            print(
                f"{'x'.join(map(str, shape)):>18} | {t_m * 1e3:9.3f} {t_t * 1e3:9.3f} "
                f"{t_s * 1e3:10.3f} | {t_t / t_m:7.2f}x {t_m / t_s:9.2f}x {t_rng / t_s:10.2f}x | "
                f"{m_m / 2**20:9.2f} "
                f"{m_t / 2**20:9.2f} {m_s / 2**20:10.2f} | {m_m / m_t:9.2f}"
            )
        print(
            "vs torch = torch time / molgen time (higher is better); vs softmax = molgen time / "
            "softmax time (1.0 is the floor); rng/softmax = time of uniform_ alone (the random "
            "numbers every Gumbel sampler draws) / softmax time; "
            "mem/torch = molgen peak / torch peak"
        )
    edge_shapes = [] if args.sites_only else EDGE_SHAPES[:1] if args.quick else EDGE_SHAPES
    if edge_shapes:
        print_edge_table(edge_shapes, repeats)
    print_site_table(SITE_SHAPES[:1] if args.quick else SITE_SHAPES, repeats)
    if not edges_only:
        print_planar_table(PLANAR_SHAPES, repeats)
    return 0


def print_edge_table(edge_shapes: Sequence[Sequence[int]], repeats: int) -> None:
    header = f"{'edges':>14} | {'symmetric ms':>12} | " + " | ".join(
        f"{'budgeted ' + str(c):>17} ms  ratio" for c in CONNECT
    )
    print()
    _print_header(header)
    for shape in edge_shapes:
        res = bench_edges(shape, repeats)
        t_sym = res["symmetric"]
        cells = " | ".join(
            f"{res[f'budgeted {c}'] * 1e3:20.2f} {res[f'budgeted {c}'] / t_sym:6.2f}x"
            for c in CONNECT
        )
        print(f"{'x'.join(map(str, shape)):>14} | {t_sym * 1e3:12.2f} | {cells}")
    print(
        "ratio = budgeted time / symmetric_gumbel_softmax time, same run (budgets 0..4, "
        "cost = class index)"
    )


def print_site_table(site_shapes: Sequence[Sequence[int]], repeats: int) -> None:
    header = (
        f"{'B x N x S x C':>14} | {'sites ms':>9} | {'budget tree ms':>14} | "
        f"{'budget forest ms':>16} | {'sites / forest':>14}"
    )
    print()
    _print_header(header)
    for shape in site_shapes:
        res = bench_sites(shape, repeats)
        t_sites, t_forest = res["sites"], res["budget forest"]
        print(
            f"{'x'.join(map(str, shape)):>14} | {t_sites * 1e3:9.2f} | "
            f"{res['budget tree'] * 1e3:14.2f} | {t_forest * 1e3:16.2f} | "
            f"{t_sites / t_forest:13.2f}x"
        )
    print(
        "sites = site_gumbel_softmax (SiteBudget + MaxCycle(2), connect='tree'); budget = "
        "budgeted_symmetric_gumbel_softmax on the total site budgets, connect='tree', forest = "
        "with max_cycle=2; fwd+bwd"
    )


def print_planar_table(planar_shapes: Sequence[Sequence[int]], repeats: int) -> None:
    header = (
        f"{'planar B x N x N x C':>20} | {'budget ms':>9} {'edges':>6} | "
        f"{'non-crossing ms':>15} {'edges':>6} {'ratio':>6} | "
        f"{'score order ms':>14} {'edges':>6} {'ratio':>6}"
    )
    print()
    _print_header(header)
    for shape in planar_shapes:
        times, edges = bench_planar(shape, repeats)
        t_budget, t_planar, t_score = (times[k] for k in ("budget", "non-crossing", "score order"))
        print(
            f"{'x'.join(map(str, shape)):>20} | {t_budget * 1e3:9.2f} {edges['budget']:6.1f} | "
            f"{t_planar * 1e3:15.2f} {edges['non-crossing']:6.1f} {t_planar / t_budget:5.2f}x | "
            f"{t_score * 1e3:14.2f} {edges['score order']:6.1f} {t_score / t_budget:5.2f}x"
        )
    print(
        "budget = constrained_symmetric_gumbel_softmax with Budget (degree 12), connect='join'; "
        "non-crossing = also NonCrossing at uniform random positions; score order = with "
        "rivals=3N-6; edges = mean edges per graph; ratio = time / budget time, same run; "
        "fwd+bwd"
    )


if __name__ == "__main__":
    sys.exit(main())
