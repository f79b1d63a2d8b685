"""The node and bond classes of fragment graphs: atom types and the K most frequent ring systems
of a training set (:mod:`molgen.chem.ring_systems` defines ring systems and their sites), K
chosen by coverage, with each ring system's sites and site budgets. :mod:`molgen.chem.fragments`
encodes molecules in a vocabulary and decodes them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from molgen.chem.graph import Vocabulary, mol_graphs
from molgen.chem.ring_systems import RingSystem, mine_ring_systems
from molgen.chem.valence import atom_valence
from molgen.errors import InputError

__all__ = ["FragmentVocabulary", "node_site_budgets"]


@dataclass(frozen=True)
class FragmentVocabulary:
    """Node and bond classes of fragment graphs, and their size ``N = max_nodes``.

    Node class 0 is "no node", ``1 .. A`` are ``atom_types``, ``A + k`` (``k >= 1``) is ring
    system ``ring_systems[k - 1]`` (unit SMILES). Bond class ``k >= 1`` is ``bond_types[k - 1]``.
    Serialise with :meth:`to_dict` (plain lists, ints, strings).

    Args:
        atom_types: atom-type symbols, as :class:`~molgen.chem.graph.Vocabulary` takes them.
        ring_systems: unit SMILES, most frequent first.
        bond_types: bond types from :data:`~molgen.chem.graph.BOND_TYPES`; with ``AROMATIC``,
            expanded rare units keep aromatic bonds, else they are kekulized.
        max_nodes: ``N``, the number of nodes of every graph.

    ``atom_vocabulary`` is the :class:`~molgen.chem.graph.Vocabulary` of the atom types and bond
    types (``max_atoms = max_nodes``), whose atom classes are the atom nodes' classes.
    """

    atom_types: tuple[str, ...]
    ring_systems: tuple[str, ...]
    bond_types: tuple[str, ...]
    max_nodes: int

    def __post_init__(self) -> None:
        atoms = Vocabulary(tuple(self.atom_types), tuple(self.bond_types), self.max_nodes)
        systems = tuple(RingSystem(s) for s in self.ring_systems)
        names = tuple(s.smiles for s in systems)
        if len(set(names)) != len(names):
            raise ValueError("ring_systems has duplicates")
        object.__setattr__(self, "atom_types", atoms.atom_types)
        object.__setattr__(self, "bond_types", atoms.bond_types)
        object.__setattr__(self, "ring_systems", names)
        object.__setattr__(self, "atom_vocabulary", atoms)
        object.__setattr__(self, "_systems", systems)
        offset = len(atoms.atom_types) + 1
        object.__setattr__(self, "_ring_index", {s: k for k, s in enumerate(names, offset)})

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_smiles(
        cls,
        smiles: Sequence[str],
        num_ring_systems: int | None = None,
        coverage: float | None = None,
        aromatic: bool = False,
        max_nodes: int | None = None,
        n_jobs: int | None = None,
    ) -> FragmentVocabulary:
        """Mine ``smiles`` and keep the most frequent ring systems: exactly ``num_ring_systems``
        of them, or as few as cover ``coverage`` of the molecules entirely (default 0.95).

        Atom types are every atom type of the molecules (as the atom codec infers them, so
        expanded rare units encode too). ``max_nodes`` defaults to the largest fragment graph;
        a malformed SMILES is a ValueError.
        """
        if num_ring_systems is not None and coverage is not None:
            raise ValueError("give num_ring_systems or coverage, not both")
        smiles = list(smiles)
        mined = mine_ring_systems(smiles, n_jobs)
        if mined.failed:
            raise ValueError(mined.failed[0])
        if num_ring_systems is None:
            num_ring_systems = mined.k_for_coverage(0.95 if coverage is None else coverage)
        if num_ring_systems < 0:
            raise ValueError(f"num_ring_systems must be >= 0, got {num_ring_systems}")
        ring_systems = mined.top(num_ring_systems)
        graphs = mol_graphs(smiles, aromatic=aromatic, n_jobs=n_jobs)
        atoms = Vocabulary.from_graphs(graphs, aromatic=aromatic)
        if max_nodes is None:
            max_nodes = int(mined.node_counts(ring_systems).max())
        return cls(atoms.atom_types, ring_systems, atoms.bond_types, max_nodes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "atom_types": list(self.atom_types),
            "ring_systems": list(self.ring_systems),
            "bond_types": list(self.bond_types),
            "max_nodes": self.max_nodes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FragmentVocabulary:
        expected = {"atom_types", "ring_systems", "bond_types", "max_nodes"}
        if not isinstance(d, dict) or set(d) != expected:
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise InputError(
                f"a fragment vocabulary dict has exactly the keys {sorted(expected)}, got {got}"
            )
        try:
            return cls(
                tuple(d["atom_types"]),
                tuple(d["ring_systems"]),
                tuple(d["bond_types"]),
                d["max_nodes"],
            )
        except (TypeError, ValueError) as exc:
            raise InputError(f"fragment vocabulary: {exc}") from None

    def __reduce__(self):  # the atom vocabulary's RDKit templates do not pickle; rebuild
        return (
            FragmentVocabulary,
            (self.atom_types, self.ring_systems, self.bond_types, self.max_nodes),
        )

    def __repr__(self) -> str:
        return (
            f"FragmentVocabulary(max_nodes={self.max_nodes}, atom_types={len(self.atom_types)}, "
            f"ring_systems={len(self.ring_systems)}, max_sites={self.max_sites}, "
            f"bonds={list(self.bond_types)})"
        )

    # ----------------------------------------------------------------- classes

    @property
    def num_node_types(self) -> int:
        """``T = 1 + A + K``: node classes including class 0 ("no node")."""
        return 1 + len(self.atom_types) + len(self.ring_systems)

    @property
    def num_bond_types(self) -> int:
        """``R``: bond classes including class 0 ("no bond"), the atom vocabulary's."""
        return self.atom_vocabulary.num_bond_types

    @property
    def aromatic(self) -> bool:
        """Whether aromatic bonds are kept, as in the atom vocabulary."""
        return self.atom_vocabulary.aromatic

    @property
    def max_sites(self) -> int:
        """``S``: the most sites of a ring system (at least 1: an atom node's one site)."""
        return max([1, *(s.num_sites for s in self._systems)])

    def node_class(self, name: str) -> int:
        """Node class of an atom-type symbol or a unit SMILES; ValueError when not in here."""
        if name in self._ring_index:
            return self._ring_index[name]
        try:
            return self.atom_vocabulary.atom_class(name)
        except ValueError:
            raise ValueError(
                f"{name!r} is neither an atom type nor a ring system of {self!r}"
            ) from None

    def ring_system(self, node_class: int) -> RingSystem | None:
        """The ring system of a node class, None for an atom type."""
        k = node_class - len(self.atom_types) - 1
        return self._systems[k] if 0 <= k < len(self._systems) else None

    def site_budgets(self) -> torch.Tensor:
        """``LongTensor [T, S]``: hydrogens of site ``s`` of node class ``t`` for ring systems,
        0 where a ring system has no site ``s`` and for "no node" and atom types (an atom's
        budget is its valence, kept as the atom codec keeps it). ``budgets > 0`` is the mask of
        the sites a generator may choose."""
        out = torch.zeros(self.num_node_types, self.max_sites, dtype=torch.long)
        offset = len(self.atom_types) + 1
        for k, system in enumerate(self._systems):
            out[offset + k, : system.num_sites] = torch.tensor(system.budgets, dtype=torch.long)
        return out

    def coverage(self, smiles: Sequence[str], n_jobs: int | None = None) -> float:
        """Share of the molecules whose ring systems are all in this vocabulary (their fragment
        graphs have no expanded unit). A malformed SMILES is a ValueError."""
        mined = mine_ring_systems(smiles, n_jobs)
        if mined.failed:
            raise ValueError(mined.failed[0])
        covered = mined.covered(self.ring_systems)
        return float(covered.mean()) if len(covered) else 0.0


def node_site_budgets(vocab: FragmentVocabulary) -> torch.Tensor:
    """``float64 [T, S]``: what the edges at each site of each node class may spend, for the
    generator's site sampler: a ring system's hydrogens per site (:meth:`FragmentVocabulary.
    site_budgets`), an atom type's valence at its one site 0, 0 for class 0."""
    table = vocab.site_budgets().double()
    for k, symbol in enumerate(vocab.atom_types, 1):
        table[k, 0] = atom_valence(symbol)
    return table
