"""What share of MOSES' and QM9's molecules the aromatic ring rule can draw in aromatic form.

Parses each set with aromatic bonds kept and counts the molecules whose aromatic bonds
:class:`molgen.nn.constrained.AromaticRings` can draw (:func:`molgen.chem.aromatic_rings_problem`),
beside those whose atoms all fit a flat budget of 1.5 per aromatic bond (aromatic bonds
costing 1.5 in the valence budgets, no ring rule), and the most common reasons a molecule is
out of reach.

    python scripts/aromatic_coverage.py [--moses N] [--qm9 N]
"""

from __future__ import annotations

import argparse
import collections
import itertools

from molgen.chem import BOND_ORDERS, aromatic_rings_problem, atom_valence
from molgen.chem.graph import MolGraph, mol_graphs
from molgen.chem.moses import moses_file
from molgen.data.sources import read_qm9pack, read_smiles


def fits_flat_budget(graph: MolGraph) -> bool:
    """Every atom's bonds within its valence with an aromatic bond costing 1.5."""
    spent = [0.0] * len(graph.atoms)
    for i, j, bond in graph.bonds:
        order = 1.5 if bond == "AROMATIC" else BOND_ORDERS[bond]
        spent[i] += order
        spent[j] += order
    return all(s <= atom_valence(a) for s, a in zip(spent, graph.atoms, strict=True))


def coverage(name: str, smiles: list[str]) -> None:
    graphs = [g for g in mol_graphs(smiles, aromatic=True) if not isinstance(g, str | None)]
    problems = [aromatic_rings_problem(g) for g in graphs]
    aromatic = [any(b == "AROMATIC" for *_, b in g.bonds) for g in graphs]
    drawable = sum(p is None for p in problems)
    flat = sum(fits_flat_budget(g) for g in graphs)
    with_rings = sum(aromatic)
    drawable_rings = sum(p is None and a for p, a in zip(problems, aromatic, strict=True))
    print(
        f"{name}: {len(graphs):,} molecules, {with_rings / len(graphs):.1%} with aromatic bonds; "
        f"ring rule draws {drawable / len(graphs):.1%} "
        f"({drawable_rings / max(with_rings, 1):.1%} of those with aromatic bonds); "
        f"a flat 1.5 per aromatic bond fits {flat / len(graphs):.1%}"
    )
    reasons = collections.Counter(p.split(" (")[0] for p in problems if p is not None)
    for reason, count in reasons.most_common(5):
        print(f"    {count / len(graphs):6.1%}  {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moses", type=int, default=None, help="MOSES test molecules (all)")
    parser.add_argument("--qm9", type=int, default=None, help="QM9 molecules (all)")
    args = parser.parse_args()
    records = read_smiles(moses_file("dataset/data/test.csv.gz"))
    coverage("MOSES test", [r.smiles for r in itertools.islice(records, args.moses)])
    coverage("QM9", [r.smiles for r in itertools.islice(read_qm9pack(), args.qm9)])


if __name__ == "__main__":
    main()
