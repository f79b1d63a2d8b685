"""Sampling throughput: molecules per second at QM9's N=9 and MOSES's N=27, for both bond heads.

    python scripts/bench_sampling.py [-n 10000] [--threads 1] [generator.constraint=...]
    python scripts/bench_sampling.py --bond-heads linear \
        --constraints none,valence_connected+join,valence_connected+tree

For ``configs/qm9.yaml`` and ``configs/moses_atoms.yaml`` and each ``generator.bond_head`` it builds
the config's generator with random weights (seed 0) for the config's vocabulary (its
``data.atom_types``, or those molgen infers from full QM9 when the config leaves them to the
data; kekulized unless ``data.aromatic``), so no data are read, and times ``-n`` samples:

- ``graphs/s``: noise -> atoms -> bond logits -> bonds (the sampler of the config's
  ``generator.constraint``), in eval mode without gradients, in batches of ``--batch-size``;
- ``smiles/s``: the same and decoding to canonical SMILES
  (``molgen.training.sampling.generate_smiles``, what ``molgen sample`` runs).

``--constraints`` times each config with each of the given samplers instead of its own
(``CONSTRAINT`` or ``valence_connected+CONNECT``: ``generator.constraint`` and
``generator.connect``), ``--bond-heads`` with the given heads only. Each row has the bond head's
parameter count and its rates as ratios to the first row (QM9, the first sampler and head),
measured in the same run. Threads are pinned (``torch.set_num_threads``, 1 by default)
and each timing is the median of ``--repeats``. Extra arguments are dotted config overrides
applied to both configs.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from molgen.chem import Vocabulary
from molgen.chem.graph import bond_types_for
from molgen.choices import BOND_HEADS, CONNECT_ALIASES, CONNECT_RULES, CONSTRAINTS
from molgen.config import load_config
from molgen.models import Generator
from molgen.training.run import build_generator
from molgen.training.sampling import generate_smiles

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("qm9", "moses_atoms")
#: The atom types molgen infers from full QM9 (configs/qm9.yaml leaves them to the data).
QM9_ATOM_TYPES = ("C", "C-", "N", "N+", "N-", "O", "O-", "F")


def vocabulary(name: str, overrides: Sequence[str]) -> tuple[Vocabulary, object]:
    """The config ``configs/{name}.yaml`` (with ``overrides``) and its vocabulary, no data read."""
    cfg = load_config(ROOT / "configs" / f"{name}.yaml", list(overrides))
    atom_types = cfg.data.atom_types or QM9_ATOM_TYPES
    vocab = Vocabulary(tuple(atom_types), bond_types_for(cfg.data.aromatic), cfg.data.max_atoms)
    return vocab, cfg


def sampler_overrides(text: str) -> list[list[str]]:
    """``"none,valence_connected+tree"`` -> the config overrides of each sampler."""
    samplers = []
    for spec in text.split(","):
        constraint, _, connect = spec.partition("+")
        connect_names = (*CONNECT_RULES, *CONNECT_ALIASES)
        if constraint not in CONSTRAINTS or (connect and connect not in connect_names):
            raise argparse.ArgumentTypeError(
                f"{spec!r}: expected CONSTRAINT[+CONNECT], constraint one of {list(CONSTRAINTS)}, "
                f"connect one of {list(connect_names)}"
            )
        connects = [f"generator.connect={connect}"] if connect else []
        samplers.append([f"generator.constraint={constraint}", *connects])
    return samplers


def bond_heads(text: str) -> list[str]:
    """``"linear,pairwise"`` -> the bond heads (``generator.bond_head``) to time."""
    heads = text.split(",")
    if not set(heads) <= set(BOND_HEADS):
        raise argparse.ArgumentTypeError(f"{text!r}: bond heads are among {list(BOND_HEADS)}")
    return heads


def sampler_name(row: dict) -> str:
    """The row's constraint, with its connect rule where that has one."""
    if row["constraint"] != "valence_connected":
        return row["constraint"]
    return f"{row['constraint']}+{row['connect']}"


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.no_grad()
def draw_graphs(generator: Generator, n: int, batch_size: int) -> None:
    """``n`` graphs in batches, as ``molgen sample`` draws them, without decoding."""
    rng = torch.Generator().manual_seed(0)
    for start in range(0, n, batch_size):
        z = generator.sample_noise(min(batch_size, n - start), generator=rng)
        generator(z, generator=rng)


def seconds(
    generator: Generator, vocab: Vocabulary, n: int, batch_size: int, repeats: int
) -> tuple[float, float]:
    """Median seconds for ``n`` graphs, and for ``n`` graphs decoded to SMILES."""
    draw_graphs(generator, batch_size, batch_size)  # warm-up
    graphs = median_seconds(lambda: draw_graphs(generator, n, batch_size), repeats)
    smiles = median_seconds(
        lambda: list(generate_smiles(generator, vocab, n, seed=0, batch_size=batch_size)),
        repeats,
    )
    return graphs, smiles


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="molecules per timing")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--constraints",
        type=sampler_overrides,
        default=[[]],
        help="comma-separated samplers CONSTRAINT[+CONNECT] (default: each config's own)",
    )
    parser.add_argument(
        "--bond-heads", type=bond_heads, default=list(BOND_HEADS), help="comma-separated"
    )
    args, overrides = parser.parse_known_args(argv)
    torch.set_num_threads(args.threads)

    rows = []
    for name, sampler, head in itertools.product(CONFIGS, args.constraints, args.bond_heads):
        vocab, cfg = vocabulary(name, [*overrides, *sampler, f"generator.bond_head={head}"])
        torch.manual_seed(0)
        generator = build_generator(cfg.generator, vocab).eval()
        graphs, smiles = seconds(generator, vocab, args.n, args.batch_size, args.repeats)
        rows.append(
            {
                "config": name,
                "N": vocab.max_atoms,
                "A": vocab.num_atom_types,
                "R": vocab.num_bond_types,
                "constraint": cfg.generator.constraint,
                "connect": cfg.generator.connect,
                "bond_head": head,
                "bond_head_params": sum(p.numel() for p in generator.bond_head.parameters()),
                "graphs_per_s": args.n / graphs,
                "smiles_per_s": args.n / smiles,
            }
        )
    base = rows[0]
    print(
        f"{args.n} samples, batch {args.batch_size}, {args.threads} thread(s), "
        f"median of {args.repeats}"
    )
    header = (
        f"{'config':7} {'N':>3} {'A':>2} {'R':>2} {'constraint':25} {'bond_head':9} "
        f"{'params':>9} {'graphs/s':>9} {'ratio':>6} {'smiles/s':>9} {'ratio':>6}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['config']:7} {row['N']:3d} {row['A']:2d} {row['R']:2d} "
            f"{sampler_name(row):25} {row['bond_head']:9} {row['bond_head_params']:9,d} "
            f"{row['graphs_per_s']:9.0f} {row['graphs_per_s'] / base['graphs_per_s']:6.2f} "
            f"{row['smiles_per_s']:9.0f} {row['smiles_per_s'] / base['smiles_per_s']:6.2f}"
        )
    return rows


if __name__ == "__main__":
    main()
