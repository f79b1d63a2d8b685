"""Throughput of molgen.chem's encode/decode against a bare RDKit loop, measured in the same run.

    python scripts/bench_chem.py                     # bundled QM9 sample, 1 and 2 processes
    python scripts/bench_chem.py --qm9 -n 50000      # molecules from full QM9 (qm9pack)
    python scripts/bench_chem.py --full-qm9          # also: load all of QM9, then reload (cache)

Baselines (plain loops, one process):

* decode: for the same molecules, ``Chem.RWMol`` + ``AddAtom(Chem.Atom(z))`` (with charge) +
  ``AddBond`` + ``SanitizeMol`` + ``MolToSmiles(isomericSmiles=False)`` from ready Python lists;
* encode: ``MolFromSmiles`` + ``Kekulize`` and reading atoms and bonds into Python lists.

Ratios are molgen time / baseline time (lower is better; target for decode <= 1.25 on one
process). Each case runs once per round, rounds interleave all cases, and each timing is the
best of ``--repeat`` rounds, to damp noise from other processes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from rdkit import Chem

from molgen.chem import Vocabulary, decode, encode, parse_atom_type
from molgen.config import DataConfig
from molgen.data import bundled_path, load_dataset, read_qm9pack, read_smiles


def best_time(function: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def baseline_decode(molecules: list[tuple[list[tuple[int, int]], list[tuple[int, int, object]]]]):
    out = []
    for atoms, bonds in molecules:
        mol = Chem.RWMol()
        for atomic_num, charge in atoms:
            atom = Chem.Atom(atomic_num)
            atom.SetFormalCharge(charge)
            mol.AddAtom(atom)
        for i, j, bond_type in bonds:
            mol.AddBond(i, j, bond_type)
        Chem.SanitizeMol(mol)
        out.append(Chem.MolToSmiles(mol, isomericSmiles=False))
    return out


def baseline_encode(smiles: list[str]):
    out = []
    for item in smiles:
        mol = Chem.MolFromSmiles(item)
        Chem.Kekulize(mol, clearAromaticFlags=True)
        atoms = [(a.GetAtomicNum(), a.GetFormalCharge()) for a in mol.GetAtoms()]
        bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondType()) for b in mol.GetBonds()]
        out.append((atoms, bonds))
    return out


def decode_inputs(x, adj, vocab: Vocabulary):
    """The baseline's input: the same molecules as ready Python lists (padding dropped)."""
    atom_types = [None, *(parse_atom_type(s)[:2] for s in vocab.atom_types)]
    bond_types = [None, *(getattr(Chem.BondType, b) for b in vocab.bond_types)]
    molecules = []
    for xm, am in zip(x.tolist(), adj.tolist(), strict=True):
        n = sum(1 for c in xm if c)
        atoms = [atom_types[c] for c in xm[:n]]
        bonds = [
            (i, j, bond_types[am[i][j]]) for i in range(n) for j in range(i + 1, n) if am[i][j]
        ]
        molecules.append((atoms, bonds))
    return molecules


def row(name: str, count: int, seconds: float, baseline: float | None) -> str:
    ratio = f"{seconds / baseline:6.2f}x" if baseline else "      -"
    return f"{name:<34} {count:>8} {count / seconds:>12,.0f} {seconds:>9.3f} {ratio}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qm9", action="store_true", help="molecules from full QM9 (qm9pack)")
    parser.add_argument("-n", type=int, default=None, help="number of molecules (default all)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[2], help="process counts to try")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full-qm9", action="store_true", help="time loading all of QM9")
    args = parser.parse_args(argv)

    records = read_qm9pack() if args.qm9 else read_smiles(bundled_path("qm9_5k"))
    smiles = [r.smiles for r in records][: args.n]
    vocab = Vocabulary.from_smiles(smiles)
    x, adj = encode(smiles, vocab)
    molecules = decode_inputs(x, adj, vocab)
    assert decode(x, adj, vocab) == baseline_decode(molecules), "decode disagrees with RDKit"

    cases: dict[str, tuple[str | None, Callable[[], object]]] = {
        "encode: RDKit baseline": (None, lambda: baseline_encode(smiles)),
        "encode": ("encode: RDKit baseline", lambda: encode(smiles, vocab)),
        **{
            f"encode n_jobs={j}": ("encode: RDKit baseline", partial(encode, smiles, vocab, j))
            for j in args.jobs
        },
        "decode: RDKit baseline": (None, lambda: baseline_decode(molecules)),
        "decode strict=True": ("decode: RDKit baseline", lambda: decode(x, adj, vocab)),
        "decode strict=False": (
            "decode: RDKit baseline",
            lambda: decode(x, adj, vocab, strict=False),
        ),
        **{
            f"decode n_jobs={j}": (
                "decode: RDKit baseline",
                partial(decode, x, adj, vocab, True, j),
            )
            for j in args.jobs
        },
    }
    # Rounds interleave all cases, so a change in the machine's load hits them alike.
    seconds = dict.fromkeys(cases, float("inf"))
    for _ in range(args.repeat):
        for name, (_, function) in cases.items():
            seconds[name] = min(seconds[name], best_time(function, 1))

    print(f"{len(smiles)} molecules, {vocab!r}, {os.cpu_count()} cores")
    print(f"{'':<34} {'mols':>8} {'mols/s':>12} {'seconds':>9} {'ratio':>7}")
    for name, (baseline, _) in cases.items():
        print(row(name, len(smiles), seconds[name], seconds[baseline] if baseline else None))

    if args.full_qm9:
        cache_dir = Path(tempfile.mkdtemp(prefix="molgen-bench-"))
        try:
            cfg = DataConfig(name="qm9", cache_dir=cache_dir)
            start = time.perf_counter()
            ds = load_dataset(cfg)
            built = time.perf_counter() - start
            start = time.perf_counter()
            load_dataset(cfg)
            reloaded = time.perf_counter() - start
        finally:
            shutil.rmtree(cache_dir)
        count = ds.info["num_molecules"]
        print(row("load full QM9 (parse, all cores)", count, built, None))
        print(row("reload full QM9 from cache", count, reloaded, built))
    return 0


if __name__ == "__main__":
    sys.exit(main())
