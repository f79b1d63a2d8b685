"""How well a fragment vocabulary of the K most frequent ring systems covers MOSES.

Mines the ring systems (:mod:`molgen.chem.fragments`) of the first ``--train`` molecules of
MOSES' training set (or, with ``--spread``, as many evenly spaced over it: the file is ordered,
its first part is not a fair sample), then prints one row per K: the share of training and test
molecules whose ring systems are all among the K (fully covered), the nodes of the fragment
graph per molecule (mean, max) beside the atoms per molecule, the most sites and site classes of
a kept ring system, and the encoding rate of the test sample with that vocabulary (with its
round trip checked). Mining and encoding run on one process unless ``-j`` says otherwise.

    python scripts/fragment_coverage.py [--train 100000] [--spread] [--test 176074]
        [--ks 100 200 500 1000 2000 all] [-j JOBS]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from molgen.chem import canonical_smiles, parse_smiles
from molgen.chem.fragments import (
    FragmentVocabulary,
    MinedRingSystems,
    decode_fragments,
    encode_fragments,
    mine_ring_systems,
)
from molgen.chem.graph import Vocabulary, encode, mol_graphs
from molgen.chem.moses import moses_file
from molgen.data.sources import read_moses, read_smiles


def _mine(smiles: list[str], jobs: int) -> tuple[MinedRingSystems, float]:
    start = time.perf_counter()
    mined = mine_ring_systems(smiles, n_jobs=jobs)
    if mined.failed:
        raise SystemExit(f"{len(mined.failed)} SMILES failed, e.g. {mined.failed[0]}")
    return mined, len(smiles) / (time.perf_counter() - start)


def _summary(name: str, mined: MinedRingSystems, rate: float) -> str:
    per_molecule = [len(m.units) for m in mined.molecules]
    atoms = mined.atom_counts()
    unsanitizable = sum(name is None for m in mined.molecules for name, _ in m.units)
    return (
        f"{name}: {len(mined.molecules)} molecules mined at {rate:,.0f}/s; "
        f"{len(mined.ranked)} distinct ring systems, {np.mean(per_molecule):.2f} per molecule "
        f"({unsanitizable} that do not sanitize cut out); atoms per molecule mean "
        f"{atoms.mean():.1f}, max {atoms.max()}"
    )


def rows(args: argparse.Namespace) -> list[dict]:
    if args.spread:  # MOSES' files are ordered: spread samples the whole training set
        everything = [r.smiles for r in read_moses()]
        train = [everything[k * len(everything) // args.train] for k in range(args.train)]
    else:
        train = [r.smiles for r in itertools.islice(read_moses(), args.train)]
    test_records = read_smiles(moses_file("dataset/data/test.csv.gz"))
    test = [r.smiles for r in test_records[: args.test]]
    mined_train, train_rate = _mine(train, args.jobs)
    mined_test, test_rate = _mine(test, args.jobs)
    print(_summary("train", mined_train, train_rate))
    print(_summary("test", mined_test, test_rate))
    atoms = Vocabulary.from_graphs(mol_graphs(train, n_jobs=args.jobs))
    sample = test[: args.encode]
    expected = [canonical_smiles(parse_smiles(s)) for s in sample]
    sample_atoms = Vocabulary.from_graphs(mol_graphs(sample))
    start = time.perf_counter()
    encode(sample, sample_atoms, n_jobs=args.jobs)
    print(f"atom codec: encodes {len(sample) / (time.perf_counter() - start):,.0f} molecules/s")
    out = []
    for k in args.ks:
        ring_systems = mined_train.top(len(mined_train.ranked) if k == "all" else int(k))
        covered_test = mined_test.covered(ring_systems)
        nodes_train = mined_train.node_counts(ring_systems)
        nodes_test = mined_test.node_counts(ring_systems)
        vocab = FragmentVocabulary(
            atoms.atom_types, ring_systems, atoms.bond_types, int(nodes_test.max())
        )
        systems = [vocab.ring_system(vocab.node_class(s)) for s in ring_systems]
        for system in systems:  # computed on first use: not part of the encoding rate
            system.site_permutations  # noqa: B018
        start = time.perf_counter()
        encoded = encode_fragments(sample, vocab, n_jobs=args.jobs)
        encode_rate = len(sample) / (time.perf_counter() - start)
        decoded = decode_fragments(*encoded, vocab, n_jobs=args.jobs)
        out.append(
            {
                "K": len(ring_systems),
                "train_covered": float(mined_train.covered(ring_systems).mean()),
                "test_covered": float(covered_test.mean()),
                "nodes_mean": float(nodes_train.mean()),
                "nodes_max": int(nodes_train.max()),
                "test_nodes_max": int(nodes_test.max()),
                "covered_nodes_max": int(nodes_test[covered_test].max()),
                "max_sites": max(s.num_sites for s in systems),
                "max_site_classes": max(s.num_site_classes for s in systems),
                "encode_per_s": encode_rate,
                "round_trip": float(
                    np.mean([a == b for a, b in zip(decoded, expected, strict=True)])
                ),
            }
        )
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=100_000, help="first N training molecules")
    parser.add_argument(
        "--spread",
        action="store_true",
        help="mine --train molecules evenly spaced over the training set, not the first ones",
    )
    parser.add_argument("--test", type=int, default=None, help="first N test molecules (all)")
    parser.add_argument(
        "--encode", type=int, default=5_000, help="test molecules encoded and decoded per K"
    )
    parser.add_argument(
        "--ks",
        nargs="+",
        default=["100", "200", "500", "1000", "2000", "all"],
        help="vocabulary sizes; 'all': every ring system of the training molecules",
    )
    parser.add_argument("-j", "--jobs", type=int, default=1, help="processes (-1: all cores)")
    args = parser.parse_args(argv)
    table = rows(args)
    header = (
        f"{'K':>5} {'train cov':>9} {'test cov':>8} {'nodes mean':>10} {'max':>4} "
        f"{'test max':>8} {'covered max':>11} {'sites':>5} {'classes':>7} {'encode/s':>8} "
        f"{'round trip':>10}"
    )
    print(header)
    for r in table:
        print(
            f"{r['K']:>5} {r['train_covered']:>9.3f} {r['test_covered']:>8.3f} "
            f"{r['nodes_mean']:>10.2f} {r['nodes_max']:>4} {r['test_nodes_max']:>8} "
            f"{r['covered_nodes_max']:>11} {r['max_sites']:>5} {r['max_site_classes']:>7} "
            f"{r['encode_per_s']:>8,.0f} {r['round_trip']:>10.4f}"
        )
    return table


if __name__ == "__main__":
    main()
