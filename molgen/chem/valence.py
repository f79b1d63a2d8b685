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
#: a valence of 2, a fused ring's shared C three within 4; 15% of the bundled QM9 sample,
#: aromatic, has such an atom). :class:`molgen.nn.constrained.AromaticRings` keeps the Kekule
#: double bond's extra unit at the atoms that take one: 1.5 per aromatic bond there.
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


#: Neutral atom types by their place in an aromatic ring: with one Kekule double bond
#: (pyridine-type), with a lone pair and two single bonds (pyrrole-type: furan's O, thiophene's
#: S, [nH]), or either (N: pyridine's n, or pyrrole-type with a substituent, Cn1cccc1).
_PYRIDINE_TYPES = {"C"}
_PYRROLE_TYPES = {"O", "S", "NH"}
_EITHER_TYPES = {"N"}


def aromatic_role(symbol: str) -> int:
    """The role of atom type ``symbol`` in an aromatic ring drawn by
    :class:`molgen.nn.constrained.AromaticRings`: ``PYRIDINE_TYPE`` (1) for ``C``,
    ``PYRROLE_TYPE`` (2) for ``O``, ``S`` and ``NH``, ``PYRIDINE_OR_PYRROLE_TYPE`` (3) for
    ``N``, ``NOT_AROMATIC`` (0) for the rest (the codes of :mod:`molgen.nn.constrained`,
    which :mod:`molgen.chem` does not import).

    RDKit gives a ring atom a Kekule double bond when its bonds (aromatic ones counted as
    single) and hydrogens leave its default valence one short: C with two ring bonds and at
    most one substituent, N with two ring bonds and none; never O, S (default valence 2), NH,
    or an N with a substituent. Charged types are left out.
    """
    parse_atom_type(symbol)  # a ValueError for what is not an atom type
    if symbol in _PYRIDINE_TYPES:
        return 1
    return 2 if symbol in _PYRROLE_TYPES else 3 if symbol in _EITHER_TYPES else 0


def aromatic_roles(vocab: Vocabulary) -> list[int]:
    """``[A]``: :func:`aromatic_role` of each atom class; class 0 (padding) has role 0."""
    return [0] + [aromatic_role(symbol) for symbol in vocab.atom_types]


def aromatic_rings_problem(graph: MolGraph) -> str | None:
    """Why :class:`molgen.nn.constrained.AromaticRings` cannot draw ``graph`` (a
    :class:`~molgen.chem.graph.MolGraph` with aromatic bonds kept), None when it can.

    It can when the aromatic bonds form disjoint rings of 5 or 6 atoms, a 6-ring of
    pyridine-type atoms or a 5-ring of four and one pyrrole-type atom (:func:`aromatic_role`;
    an N with one single bond besides its ring bonds is pyrrole-type, at most one such N in
    the molecule), each pyridine-type atom has room for its ring's Kekule double bond beside
    its other bonds, and each other pyrrole-type atom has no other bond. Then some atom order
    draws it: from the substituent of the N-substituted ring atom if there is one (else any
    atom), each ring's atoms in ring order as soon as the ring is reached (from that N for its
    ring), its other atoms after.
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
    roles = {}
    for k in aromatic:
        role = aromatic_role(graph.atoms[k])
        if role == 3:
            role = 2 if other_order[k] == 1 else 1
        roles[k] = role
    substituted = [k for k in aromatic if aromatic_role(graph.atoms[k]) == 3 and roles[k] == 2]
    if len(substituted) > 1:
        return "more than one N-substituted aromatic ring atom"
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
        if sorted(roles[k] for k in ring) not in ([1] * 6, [1, 1, 1, 1, 2]):
            kinds = "".join(sorted(graph.atoms[k] for k in ring))
            return f"an aromatic ring of {len(ring)} atoms ({kinds}) outside the rule's kinds"
        for k in ring:
            if roles[k] == 1 and other_order[k] + 3 > atom_valence(graph.atoms[k]):
                return f"a ring atom {graph.atoms[k]} with no room for its Kekule double bond"
            if roles[k] == 2 and k not in substituted and other_order[k] > 0:
                return f"a pyrrole-type ring atom {graph.atoms[k]} with a substituent"
    return None
