"""Valence budgets of a vocabulary's atom classes and the bond order each bond class spends.

A generator that samples bonds under :class:`molgen.nn.constrained.Budget` gets each sampled
atom's budget from :func:`atom_valences` and each bond class's cost from :func:`bond_orders`: no
atom then carries more bond order than its valence allows.

The valence of an atom type is the largest valence RDKit's periodic table allows for the
element isoelectronic to it (atomic number minus formal charge, RDKit's own rule for charged
atoms: N+ like C, O- like F, C- like N), minus its fixed hydrogens. The largest, not the
default: S may carry 2, 4 or 6, so its budget is 6 and no real molecule is excluded (a budget
bounds the bonds; implicit hydrogens fill what is left). Elements without a valence limit in
RDKit (metals) get ``inf``. With aromatic bonds (cost 1) the budget is necessary, not
sufficient: a sampled aromatic system may still fail to kekulize, unless the sampler's
:class:`molgen.nn.constrained.AromaticRings` rule draws it, with each atom type's
:func:`aromatic_role`.
"""

from __future__ import annotations

import math

from rdkit import Chem

from molgen.chem.graph import MolGraph, Vocabulary, parse_atom_type

__all__ = [
    "BOND_ORDERS",
    "aromatic_rings_problem",
    "aromatic_role",
    "aromatic_roles",
    "atom_valence",
    "atom_valences",
    "bond_orders",
]

#: Bond order of each bond type: what it spends of both ends' valence. An aromatic bond is a
#: single or a double bond of some Kekule structure, so it spends at least 1; counting it as
#: 1.5 would exclude real molecules (furan's O and pyrrole's NH carry two aromatic bonds within
#: a valence of 2; 15% of the bundled QM9 sample, aromatic, has such an atom).
BOND_ORDERS = {"SINGLE": 1.0, "DOUBLE": 2.0, "TRIPLE": 3.0, "AROMATIC": 1.0}

_PERIODIC_TABLE = Chem.GetPeriodicTable()


def atom_valence(symbol: str) -> float:
    """The most bond order an atom of type ``symbol`` may carry (``"C"`` 4, ``"N+"`` 4,
    ``"O-"`` 1, ``"S"`` 6, ``"NH"`` 2); ``inf`` where RDKit sets no limit."""
    atomic_num, charge, hs = parse_atom_type(symbol)
    isoelectronic = atomic_num - charge
    if not 1 <= isoelectronic <= 118:
        raise ValueError(f"atom type {symbol!r}: charge {charge:+d} leaves no element")
    allowed = list(_PERIODIC_TABLE.GetValenceList(isoelectronic))
    if -1 in allowed:
        return math.inf
    valence = max(allowed) - (hs or 0)
    if valence < 0:
        raise ValueError(f"atom type {symbol!r} has more hydrogens than valence ({max(allowed)})")
    return float(valence)


def atom_valences(vocab: Vocabulary) -> list[float]:
    """``[A]``: the valence budget of each atom class; class 0 (padding) has budget 0."""
    return [0.0] + [atom_valence(symbol) for symbol in vocab.atom_types]


def bond_orders(vocab: Vocabulary) -> list[float]:
    """``[R]``: the bond order of each bond class; class 0 (no bond) costs 0."""
    return [0.0] + [BOND_ORDERS[bond_type] for bond_type in vocab.bond_types]


#: Neutral atom types that sit in an aromatic ring with one Kekule double bond (pyridine-type)
#: or with a lone pair and two single bonds (pyrrole-type: furan's O, thiophene's S, [nH]).
_PYRIDINE_TYPES = {"C", "N"}
_PYRROLE_TYPES = {"O", "S", "NH"}


def aromatic_role(symbol: str) -> int:
    """The role of atom type ``symbol`` in an aromatic ring drawn by
    :class:`molgen.nn.constrained.AromaticRings`: ``PYRIDINE_TYPE`` (1) for ``C`` and ``N``,
    ``PYRROLE_TYPE`` (2) for ``O``, ``S`` and ``NH``, ``NOT_AROMATIC`` (0) for the rest.

    RDKit gives a ring atom a Kekule double bond when its bonds (aromatic ones counted as
    single) and hydrogens leave its default valence one short: C and N with two ring bonds
    (C also with one substituent), never O, S (default valence 2) or NH. Charged types and
    N with a substituent instead of its H (``Cn1cccc1``) are left out: whether they need the
    double bond depends on bonds drawn after the ring.
    """
    parse_atom_type(symbol)  # a ValueError for what is not an atom type
    return 1 if symbol in _PYRIDINE_TYPES else 2 if symbol in _PYRROLE_TYPES else 0


def aromatic_roles(vocab: Vocabulary) -> list[int]:
    """``[A]``: :func:`aromatic_role` of each atom class; class 0 (padding) has role 0."""
    return [0] + [aromatic_role(symbol) for symbol in vocab.atom_types]


def aromatic_rings_problem(graph: MolGraph) -> str | None:
    """Why :class:`molgen.nn.constrained.AromaticRings` cannot draw ``graph`` (a
    :class:`~molgen.chem.graph.MolGraph` with aromatic bonds kept), None when it can.

    It can when the aromatic bonds form disjoint rings of 5 or 6 atoms, a 6-ring of
    pyridine-type atoms or a 5-ring of four and one pyrrole-type atom
    (:func:`aromatic_role`), each pyridine-type atom has room for its ring's Kekule double
    bond beside its other bonds, and each pyrrole-type atom has no other bond. Then some atom
    order draws it: from any first atom, each ring's atoms in ring order as soon as the ring
    is reached, its other atoms after.
    """
    aromatic: dict[int, list[int]] = {}
    other_order = [0.0] * len(graph.atoms)
    for i, j, bond in graph.bonds:
        if bond == "AROMATIC":
            aromatic.setdefault(i, []).append(j)
            aromatic.setdefault(j, []).append(i)
        else:
            other_order[i] += BOND_ORDERS[bond]
            other_order[j] += BOND_ORDERS[bond]
    if any(len(ends) != 2 for ends in aromatic.values()):
        return "an atom with other than two aromatic bonds (fused aromatic rings)"
    seen: set[int] = set()
    for first in aromatic:
        if first in seen:
            continue
        ring, previous, atom = [first], None, first
        while True:  # walk the cycle: every atom has exactly two aromatic neighbours
            step = aromatic[atom][0] if aromatic[atom][0] != previous else aromatic[atom][1]
            if step == first:
                break
            ring.append(step)
            previous, atom = atom, step
        seen.update(ring)
        roles = sorted(aromatic_role(graph.atoms[k]) for k in ring)
        if roles not in ([1] * 6, [1, 1, 1, 1, 2]):
            kinds = "".join(sorted(graph.atoms[k] for k in ring))
            return f"an aromatic ring of {len(ring)} atoms ({kinds}) outside the rule's kinds"
        for k in ring:
            role, valence = aromatic_role(graph.atoms[k]), atom_valence(graph.atoms[k])
            if role == 1 and other_order[k] + 3 > valence:
                return f"a ring atom {graph.atoms[k]} with no room for its Kekule double bond"
            if role == 2 and other_order[k] > 0:
                return f"a pyrrole-type ring atom {graph.atoms[k]} with a substituent"
    return None
