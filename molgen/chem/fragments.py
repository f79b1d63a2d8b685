"""Ring systems as graph nodes: a fragment vocabulary mined from training data, and its codec.

Definitions
-----------
*Ring system* (a *unit*): a connected component of a molecule's ring bonds, so rings that
share a bond (fused, bridged) **or only one atom (spiro)** are one unit. Spiro rings are merged
because every atom belongs to exactly one node; keeping them apart would need an edge made of
two bonds. A unit also holds every non-ring atom double-bonded to one of its ring atoms
(``C=O``, ``C=S``, ``C=N``, exocyclic ``C=C``), unless that atom is double-bonded to ring atoms
of two units (then it stays an atom).

*Unit SMILES*: the unit cut out of its molecule, every cut bond of order ``b`` replaced by ``b``
hydrogens on the unit's atom, written as RDKit's canonical SMILES (aromaticity, charges and
hydrogen counts kept, stereo dropped). Toluene, phenol and benzene all have the unit
``c1ccccc1``; N-methylpyridinium and pyridine N-oxide share ``c1cc[nH+]cc1``.

*Template*: the molecule parsed from the unit SMILES; its atom order (the order the SMILES
writes them) is the unit's canonical atom order.

*Site*: a template atom with at least one hydrogen, i.e. a place where a substituent may
replace hydrogens. A ring system's sites are numbered ``0 .. S-1`` in template order; the *site
budget* is its hydrogen count, the total bond order its edges to other nodes may use. Sites are
**not** merged in the vocabulary: the generator chooses among all of them, so ortho, meta and
para disubstituted benzene are different graphs and every molecule round-trips.

*Site class*: sites equivalent under the unit's symmetry (same ``CanonicalRankAtoms`` rank with
``breakTies=False``). Classes do two things. (1) The encoder canonicalises the site choice: of
all automorphisms of the template that keep every atom in its class, it applies the one that
makes the sites used smallest (their sorted list, then the list in edge order). Toluene always
uses benzene's site 0, o-, m-, p-xylene use sites (0, 1), (0, 2), (0, 3). (2) Reports count
merged sites (:attr:`RingSystem.num_site_classes`).

Fragment graphs
---------------
Nodes are atoms or ring systems of a :class:`FragmentVocabulary`. Node class 0 is "no node",
``1 .. A`` are the atom types (as :class:`~molgen.chem.graph.Vocabulary` names them), ``A + 1
.. A + K`` the ring systems. A node is either an atom outside every vocabulary unit, or a whole
vocabulary unit. A unit that is *not* in the vocabulary (a rare ring system) is written as its
atoms, its ring bonds becoming ordinary edges, so no molecule is dropped. Nodes are ordered by
their lowest atom index in RDKit's order of the input SMILES.

An edge is one bond between two nodes (two nodes share at most one bond: a second one would
close a ring across them, and they would be one unit). It carries a bond class and, at each end,
the site it uses: an index into that ring system's sites, 0 at an atom node. Edges touching a
ring system are never aromatic (RDKit perceives aromaticity only in rings, whose bonds lie inside
a unit); the ring bonds of an expanded rare unit are aromatic edges when the vocabulary keeps
``AROMATIC``, else kekulized like the atom codec's.

Dense form, like :func:`molgen.chem.graph.encode`'s: ``nodes: [B, N]`` node classes,
``adj: [B, N, N]`` bond classes (symmetric), ``sites: [B, N, N]`` where ``sites[b, i, j]`` is the
site of node ``i`` used by the edge ``(i, j)`` (0 where there is no edge or ``i`` is an atom).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from rdkit import Chem

from molgen.chem.graph import (
    BOND_TYPES,
    MolGraph,
    Vocabulary,
    _as_classes,
    mol_graphs,
)
from molgen.chem.mol import Checked, check_mol, parse_smiles
from molgen.chem.rdlog import rdkit_quiet
from molgen.chem.valence import atom_valence
from molgen.errors import InputError
from molgen.parallel import ProcessPool

__all__ = [
    "FragmentGraph",
    "FragmentVocabulary",
    "MinedMolecule",
    "MinedRingSystems",
    "RingSystem",
    "RingSystemAtoms",
    "decode_fragment_mols",
    "decode_fragments",
    "encode_fragments",
    "fragment_graph_mol",
    "fragment_graphs",
    "fragment_graphs_to_arrays",
    "mine_ring_systems",
    "node_site_budgets",
    "ring_systems_of",
]

_RDKIT_BONDS = {name: getattr(Chem.BondType, name) for name in BOND_TYPES}
_BOND_NAMES = {bond_type: name for name, bond_type in _RDKIT_BONDS.items()}
#: Hydrogens a bond to another node takes from a ring-system site.
_BOND_HYDROGENS = {"SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "AROMATIC": 1}
#: Automorphisms enumerated per ring system at most (cubane has 48, a bare ring of n atoms 2n).
_MAX_AUTOMORPHISMS = 10_000
#: Below this many molecules per process, a process pool costs more than it saves.
_MIN_PER_JOB = 512


# --------------------------------------------------------------------------- mining


class RingSystemAtoms(NamedTuple):
    """One ring system of a molecule: its unit SMILES (None when the cut-out unit does not
    sanitize on its own) and its molecule atom indices in template order."""

    smiles: str | None
    atoms: tuple[int, ...]


def _unit_atom_sets(mol: Chem.Mol) -> list[list[int]]:
    """Atom indices of each ring system (see the module docstring), ordered by lowest index."""
    parent = list(range(mol.GetNumAtoms()))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    ring_atoms = set()
    for idx in range(mol.GetNumBonds()):
        bond = mol.GetBondWithIdx(idx)
        if bond.IsInRing():
            i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            ring_atoms.update((i, j))
            parent[root(i)] = root(j)
    if not ring_atoms:
        return []
    unit_of = {a: root(a) for a in ring_atoms}
    for a in range(mol.GetNumAtoms()):
        if a in ring_atoms:
            continue
        atom = mol.GetAtomWithIdx(a)
        roots = {
            unit_of[bond.GetOtherAtomIdx(a)]
            for bond in atom.GetBonds()
            if bond.GetBondType() == Chem.BondType.DOUBLE and bond.GetOtherAtomIdx(a) in ring_atoms
        }
        if len(roots) == 1:
            unit_of[a] = roots.pop()
    groups: dict[int, list[int]] = {}
    for a in sorted(unit_of):
        groups.setdefault(unit_of[a], []).append(a)
    return sorted(groups.values())


def _cut_unit(mol: Chem.Mol, atoms: list[int]) -> RingSystemAtoms:
    """The unit SMILES of ``atoms`` and their order in its template."""
    index = {a: t for t, a in enumerate(atoms)}
    unit = Chem.RWMol()
    for a in atoms:
        atom = mol.GetAtomWithIdx(a)
        copy = Chem.Atom(atom.GetAtomicNum())
        copy.SetFormalCharge(atom.GetFormalCharge())
        copy.SetNumRadicalElectrons(atom.GetNumRadicalElectrons())
        copy.SetIsAromatic(atom.GetIsAromatic())
        hydrogens = atom.GetTotalNumHs()
        for bond in atom.GetBonds():
            if bond.GetOtherAtomIdx(a) not in index:  # a cut bond: its order becomes hydrogens
                hydrogens += round(bond.GetBondTypeAsDouble())
        copy.SetNumExplicitHs(hydrogens)
        copy.SetNoImplicit(True)
        unit.AddAtom(copy)
    for a in atoms:
        for bond in mol.GetAtomWithIdx(a).GetBonds():
            other = bond.GetOtherAtomIdx(a)
            if a < other and other in index:
                unit.AddBond(index[a], index[other], bond.GetBondType())
                if bond.GetIsAromatic():
                    unit.GetBondBetweenAtoms(index[a], index[other]).SetIsAromatic(True)
    if Chem.SanitizeMol(unit, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
        return RingSystemAtoms(None, tuple(atoms))
    smiles = Chem.MolToSmiles(unit, isomericSmiles=False)
    order = json.loads(unit.GetProp("_smilesAtomOutputOrder").replace(",]", "]"))
    return RingSystemAtoms(smiles, tuple(atoms[t] for t in order))


def ring_systems_of(mol: Chem.Mol) -> list[RingSystemAtoms]:
    """The ring systems of a sanitized molecule: ``(unit SMILES, molecule atom indices in
    template order)`` each, ordered by their lowest atom index."""
    return [_cut_unit(mol, atoms) for atoms in _unit_atom_sets(mol)]


class MinedMolecule(NamedTuple):
    """What mining keeps of one molecule: its heavy atoms and ``(unit SMILES, unit atoms)`` of
    each ring system."""

    num_atoms: int
    units: tuple[tuple[str | None, int], ...]


def _mine_chunk(smiles: Sequence[str]) -> list[MinedMolecule | str]:
    out: list[MinedMolecule | str] = []
    with rdkit_quiet():  # a failure is returned as its message instead
        for item in smiles:
            mol = parse_smiles(item)
            if mol is None:
                out.append(f"malformed SMILES {item!r}")
                continue
            units = tuple((u.smiles, len(u.atoms)) for u in ring_systems_of(mol))
            out.append(MinedMolecule(mol.GetNumAtoms(), units))
    return out


@dataclass(frozen=True)
class MinedRingSystems:
    """The ring systems of a list of molecules, as :func:`mine_ring_systems` found them.

    ``molecules[m]`` is ``(heavy atoms, ((unit SMILES, unit atoms), ...))`` per parsed molecule
    (a unit SMILES is None when the unit does not sanitize cut out; it is never covered);
    ``failed`` holds the messages of the SMILES that did not parse.
    """

    molecules: tuple[MinedMolecule, ...]
    failed: tuple[str, ...] = ()

    @functools.cached_property
    def ranked(self) -> tuple[tuple[str, int, int], ...]:
        """``(unit SMILES, molecules holding it, occurrences)``, most molecules first (then most
        occurrences, then SMILES): the order the vocabulary takes ring systems in, since a
        molecule is covered only when all its units are."""
        holding: Counter[str] = Counter()
        occurrences: Counter[str] = Counter()
        for molecule in self.molecules:
            names = [name for name, _ in molecule.units if name is not None]
            occurrences.update(names)
            holding.update(set(names))
        order = sorted(holding, key=lambda name: (-holding[name], -occurrences[name], name))
        return tuple((name, holding[name], occurrences[name]) for name in order)

    def top(self, k: int) -> tuple[str, ...]:
        """The ``k`` highest-ranked unit SMILES."""
        return tuple(name for name, _, _ in self.ranked[:k])

    def covered(self, ring_systems: Iterable[str]) -> np.ndarray:
        """``[M]`` bool: every ring system of molecule ``m`` is in ``ring_systems``."""
        known = set(ring_systems)
        return np.array(
            [all(name in known for name, _ in m.units) for m in self.molecules], dtype=bool
        )

    def node_counts(self, ring_systems: Iterable[str]) -> np.ndarray:
        """``[M]`` nodes of each molecule's fragment graph: atoms outside the vocabulary's units
        plus one per unit in ``ring_systems``."""
        known = set(ring_systems)
        return np.array(
            [
                m.num_atoms - sum(size - 1 for name, size in m.units if name in known)
                for m in self.molecules
            ],
            dtype=np.int64,
        )

    def atom_counts(self) -> np.ndarray:
        """``[M]`` heavy atoms of each molecule."""
        return np.array([m.num_atoms for m in self.molecules], dtype=np.int64)

    def k_for_coverage(self, share: float) -> int:
        """The smallest K whose top-K ring systems cover ``share`` of the molecules entirely
        (all of them when no K reaches it)."""
        if not 0.0 < share <= 1.0:
            raise ValueError(f"coverage must be in (0, 1], got {share}")
        rank = {name: k for k, (name, _, _) in enumerate(self.ranked, 1)}
        never = len(rank) + 1  # a unit that did not sanitize cut out is never covered
        needed = np.sort(
            [max((rank.get(name, never) for name, _ in m.units), default=0) for m in self.molecules]
        )
        if not len(needed):
            return 0
        position = int(np.ceil(share * len(needed))) - 1
        return min(int(needed[max(position, 0)]), len(rank))


def mine_ring_systems(smiles: Sequence[str], n_jobs: int | None = None) -> MinedRingSystems:
    """The ring systems of each molecule (see the module docstring); SMILES that do not parse
    are listed in ``failed``. ``n_jobs`` spreads the work over processes (-1: all cores)."""
    items = list(smiles)
    with ProcessPool(n_jobs) as pool:
        parts = pool.map(_mine_chunk, items, min_part=_MIN_PER_JOB)
    results = [r for part in parts for r in part]
    return MinedRingSystems(
        tuple(r for r in results if not isinstance(r, str)),
        tuple(r for r in results if isinstance(r, str)),
    )


# --------------------------------------------------------------------------- ring systems


@dataclass(frozen=True)
class RingSystem:
    """One ring system of a vocabulary, built from its unit SMILES (see the module docstring).

    Attributes (derived):
        atoms: per template atom ``(atomic number, formal charge, aromatic, hydrogens)``.
        bonds: ``(i, j, bond type)`` inside the unit, ``i < j`` template indices.
        sites: template atom index of each site.
        budgets: hydrogens of each site (the bond order its edges may use in total).
        site_classes: symmetry class of each site, numbered by first appearance.
    """

    smiles: str

    def __post_init__(self) -> None:
        template = Chem.MolFromSmiles(self.smiles) if isinstance(self.smiles, str) else None
        if template is None or template.GetRingInfo().NumRings() == 0:
            raise ValueError(f"ring system {self.smiles!r} is not a SMILES with a ring")
        canonical = Chem.MolToSmiles(template, isomericSmiles=False)
        if canonical != self.smiles:  # units are looked up by their canonical SMILES
            raise ValueError(f"ring system {self.smiles!r} is not canonical: write {canonical!r}")
        atoms = tuple(
            (a.GetAtomicNum(), a.GetFormalCharge(), a.GetIsAromatic(), a.GetTotalNumHs())
            for a in template.GetAtoms()
        )
        bonds = tuple(
            (min(i, j), max(i, j), _BOND_NAMES[b.GetBondType()])
            for b in template.GetBonds()
            for i, j in [(b.GetBeginAtomIdx(), b.GetEndAtomIdx())]
        )
        sites = tuple(t for t, atom in enumerate(atoms) if atom[3] > 0)
        ranks = list(Chem.CanonicalRankAtoms(template, breakTies=False))
        class_of: dict[int, int] = {}
        site_classes = tuple(class_of.setdefault(ranks[t], len(class_of)) for t in sites)
        object.__setattr__(self, "atoms", atoms)
        object.__setattr__(self, "bonds", bonds)
        object.__setattr__(self, "sites", sites)
        object.__setattr__(self, "budgets", tuple(atoms[t][3] for t in sites))
        object.__setattr__(self, "site_classes", site_classes)
        object.__setattr__(self, "_ranks", tuple(ranks))
        object.__setattr__(self, "_site_of_atom", {t: s for s, t in enumerate(sites)})

    @property
    def num_atoms(self) -> int:
        return len(self.atoms)

    @property
    def num_sites(self) -> int:
        return len(self.sites)

    @property
    def num_site_classes(self) -> int:
        """Sites left when symmetric ones are merged."""
        return len(set(self.site_classes))

    def site_of_atom(self, template_atom: int) -> int | None:
        """Site index of a template atom, None when it has no hydrogen."""
        return self._site_of_atom.get(template_atom)

    @functools.cached_property
    def site_permutations(self) -> tuple[tuple[int, ...], ...]:
        """Automorphisms of the template that keep every atom in its symmetry class, as maps
        ``site -> site`` (``perm[s]`` is the image of site ``s``); the identity first."""
        template = Chem.MolFromSmiles(self.smiles)
        ranks = self._ranks
        identity = tuple(range(len(self.sites)))
        perms = {identity}
        matches = template.GetSubstructMatches(
            template, uniquify=False, useChirality=False, maxMatches=_MAX_AUTOMORPHISMS
        )
        for match in matches:
            if all(ranks[image] == ranks[t] for t, image in enumerate(match)):
                perms.add(tuple(self._site_of_atom[match[t]] for t in self.sites))
        return (identity, *sorted(perms - {identity}))

    def atom_graph(self, aromatic: bool = False) -> MolGraph:
        """The unit's atoms and internal bonds as a :class:`~molgen.chem.graph.MolGraph`
        (template order), in the atom codec's atom types and bonds. Atom types are those of the
        bare unit: a site's fixed hydrogen count (``NH``) drops when an edge uses it."""
        return mol_graphs([self.smiles], aromatic=aromatic)[0]


# --------------------------------------------------------------------------- vocabulary


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


# --------------------------------------------------------------------------- encode


class FragmentGraph(NamedTuple):
    """A molecule as a fragment graph: ``nodes[i]`` is a node class (>= 1), ``edges`` holds
    ``(i, j, bond class, site of i, site of j)`` with ``i < j``; ``expanded`` counts the rare
    ring systems written as atoms."""

    nodes: tuple[int, ...]
    edges: tuple[tuple[int, int, int, int, int], ...]
    expanded: int = 0


def _fragment_graph(smiles: str, atom_graph, vocab: FragmentVocabulary) -> FragmentGraph | str:
    """Encode one molecule; a string says why it cannot be."""
    if isinstance(atom_graph, str):
        return atom_graph
    mol = parse_smiles(smiles)
    unit_of_atom: dict[int, tuple[int, RingSystem]] = {}  # atoms of vocabulary units
    template_atom: dict[int, int] = {}  # molecule atom -> its template index in its unit
    expanded = 0
    for u, unit in enumerate(ring_systems_of(mol)):
        node_class = vocab._ring_index.get(unit.smiles)
        if node_class is None:
            expanded += 1
            continue
        for t, a in enumerate(unit.atoms):
            unit_of_atom[a] = (u, node_class)
            template_atom[a] = t
    atom_index = vocab.atom_vocabulary._atom_index
    node_of_atom: list[int] = []
    node_of_unit: dict[int, int] = {}
    nodes: list[int] = []
    ring_of_node: dict[int, RingSystem] = {}
    for a, symbol in enumerate(atom_graph.atoms):
        if a in unit_of_atom:
            u, node_class = unit_of_atom[a]
            if u not in node_of_unit:  # the unit's lowest atom: the node starts here
                node_of_unit[u] = len(nodes)
                ring_of_node[len(nodes)] = vocab.ring_system(node_class)
                nodes.append(node_class)
            node_of_atom.append(node_of_unit[u])
            continue
        if symbol not in atom_index:
            return f"atom type {symbol!r} is not in the vocabulary"
        node_of_atom.append(len(nodes))
        nodes.append(atom_index[symbol])
    if len(nodes) > vocab.max_nodes:
        return f"{len(nodes)} nodes, more than max_nodes={vocab.max_nodes}"
    bond_index = vocab.atom_vocabulary._bond_index
    edges = []  # [node i, node j, bond class, site of i, site of j, atom at i, atom at j]
    for i, j, bond in atom_graph.bonds:
        ni, nj = node_of_atom[i], node_of_atom[j]
        if ni == nj:
            continue  # inside a ring node
        if bond not in bond_index:
            return f"bond type {bond} is not in the vocabulary"
        si = ring_of_node[ni].site_of_atom(template_atom[i]) if ni in ring_of_node else 0
        sj = ring_of_node[nj].site_of_atom(template_atom[j]) if nj in ring_of_node else 0
        edge = [ni, nj, bond_index[bond], si, sj, i, j]
        edges.append(edge if ni < nj else [nj, ni, edge[2], sj, si, j, i])
    edges.sort()
    _canonicalise_sites(mol, edges, ring_of_node)
    return FragmentGraph(tuple(nodes), tuple(tuple(e[:5]) for e in edges), expanded)


def _canonicalise_sites(
    mol: Chem.Mol, edges: list[list[int]], ring_of_node: dict[int, RingSystem]
) -> None:
    """Per ring node, replace the sites its edges use by their images under the symmetry of
    its unit that makes them smallest: first their sorted list, then the list ordered by the
    canonical rank of the atom across each edge. Both keys ignore the input's atom order, so
    every SMILES of a molecule gives the same sites."""
    ranks = None
    for node, system in ring_of_node.items():
        perms = system.site_permutations
        # (edge, slot of this node's site, the atom across the edge)
        ends = [(e, 3, e[6]) if e[0] == node else (e, 4, e[5]) for e in edges if node in e[:2]]
        if len(perms) == 1 or not ends:
            continue
        if ranks is None:
            ranks = list(Chem.CanonicalRankAtoms(mol))
        ends.sort(key=lambda end: ranks[end[2]])
        used = [edge[slot] for edge, slot, _ in ends]
        best = min(perms, key=lambda p: (sorted(p[s] for s in used), [p[s] for s in used]))
        for edge, slot, _ in ends:
            edge[slot] = best[edge[slot]]


def _encode_chunk(smiles: Sequence[str], vocab: FragmentVocabulary) -> list[FragmentGraph | str]:
    graphs = mol_graphs(smiles, aromatic=vocab.aromatic)
    with rdkit_quiet():
        return [_fragment_graph(s, g, vocab) for s, g in zip(smiles, graphs, strict=True)]


def fragment_graphs(
    smiles: Sequence[str], vocab: FragmentVocabulary, n_jobs: int | None = None
) -> list[FragmentGraph | str]:
    """SMILES -> :class:`FragmentGraph` s; a molecule that cannot be encoded (malformed, an atom
    or bond type outside ``vocab``, more than ``max_nodes`` nodes) gives the reason instead."""
    items = list(smiles)
    chunk = functools.partial(_encode_chunk, vocab=vocab)
    with ProcessPool(n_jobs) as pool:
        parts = pool.map(chunk, items, min_part=_MIN_PER_JOB)
    return [g for part in parts for g in part]


def encode_fragments(
    smiles: str | Sequence[str], vocab: FragmentVocabulary, n_jobs: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SMILES -> dense fragment graphs ``nodes: LongTensor[B, N]``, ``adj: LongTensor[B, N, N]``,
    ``sites: LongTensor[B, N, N]`` (see the module docstring). A single string is a batch of
    one; a molecule that cannot be encoded is a ValueError quoting its SMILES."""
    batch = [smiles] if isinstance(smiles, str) else list(smiles)
    graphs = fragment_graphs(batch, vocab, n_jobs)
    for item, graph in zip(batch, graphs, strict=True):
        if isinstance(graph, str):
            raise ValueError(f"cannot encode SMILES {item!r}: {graph}")
    arrays = fragment_graphs_to_arrays(graphs, vocab.max_nodes, np.int64)
    return tuple(torch.from_numpy(a) for a in arrays)


def fragment_graphs_to_arrays(
    graphs: Sequence[FragmentGraph], max_nodes: int, dtype: Any = np.int64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense ``nodes [M, N]``, ``adj [M, N, N]`` and ``sites [M, N, N]`` (module docstring) of
    fragment graphs of at most ``N = max_nodes`` nodes, in ``dtype``."""
    n = max_nodes
    nodes = np.zeros((len(graphs), n), dtype=dtype)
    adj = np.zeros((len(graphs), n, n), dtype=dtype)
    sites = np.zeros((len(graphs), n, n), dtype=dtype)
    for m, graph in enumerate(graphs):
        nodes[m, : len(graph.nodes)] = graph.nodes
        for i, j, bond, si, sj in graph.edges:
            adj[m, i, j] = adj[m, j, i] = bond
            sites[m, i, j], sites[m, j, i] = si, sj
    return nodes, adj, sites


# --------------------------------------------------------------------------- decode


_NOT_A_MOLECULE = Checked(None, None, "parse")


def fragment_graph_mol(
    graph: FragmentGraph, vocab: FragmentVocabulary, strict: bool = True
) -> Checked:
    """Assemble a fragment graph into a molecule and check it (:func:`~molgen.chem.mol.check_mol`:
    reasons ``valence`` for a site used beyond its budget too, ``parse`` for a class or site
    outside the vocabulary). Never raises on integer content."""
    atom_templates = vocab.atom_vocabulary._templates
    num_atom_types = len(atom_templates)
    mol = Chem.RWMol()
    first_atom: list[int] = []
    hydrogens: dict[int, int] = {}  # ring atoms: hydrogens left
    for node_class in graph.nodes:
        first_atom.append(mol.GetNumAtoms())
        if 1 <= node_class <= num_atom_types:
            mol.AddAtom(atom_templates[node_class - 1])
            continue
        system = vocab.ring_system(node_class)
        if system is None:
            return _NOT_A_MOLECULE
        base = mol.GetNumAtoms()
        for atomic_num, charge, aromatic, hs in system.atoms:
            atom = Chem.Atom(atomic_num)
            atom.SetFormalCharge(charge)
            atom.SetIsAromatic(aromatic)
            hydrogens[mol.AddAtom(atom)] = hs
        for i, j, bond in system.bonds:
            mol.AddBond(base + i, base + j, _RDKIT_BONDS[bond])
            if bond == "AROMATIC":
                mol.GetBondBetweenAtoms(base + i, base + j).SetIsAromatic(True)
    bond_types = vocab.bond_types
    for i, j, bond_class, si, sj in graph.edges:
        if not (0 <= i < len(first_atom) and 0 <= j < len(first_atom) and i != j):
            return _NOT_A_MOLECULE
        if not 1 <= bond_class <= len(bond_types):
            return _NOT_A_MOLECULE
        bond = bond_types[bond_class - 1]
        ends = []
        for node, site in ((i, si), (j, sj)):
            system = vocab.ring_system(graph.nodes[node])
            if system is None:
                ends.append(first_atom[node])
                continue
            if not 0 <= site < system.num_sites:
                return _NOT_A_MOLECULE
            atom = first_atom[node] + system.sites[site]
            hydrogens[atom] -= _BOND_HYDROGENS[bond]
            if hydrogens[atom] < 0:
                return Checked(None, None, "valence")
            ends.append(atom)
        if mol.GetBondBetweenAtoms(*ends) is not None:
            return _NOT_A_MOLECULE
        mol.AddBond(ends[0], ends[1], _RDKIT_BONDS[bond])
    for atom, hs in hydrogens.items():
        ring_atom = mol.GetAtomWithIdx(atom)
        ring_atom.SetNumExplicitHs(hs)
        ring_atom.SetNoImplicit(True)
    with rdkit_quiet():
        return check_mol(mol, strict)


def _dense_graphs(nodes: np.ndarray, adj: np.ndarray, sites: np.ndarray) -> list[FragmentGraph]:
    """Fragment graphs from dense class arrays: padding nodes dropped, bonds read from the upper
    triangle, the site of each end from its own row."""
    out = []
    for m in range(nodes.shape[0]):
        present = np.flatnonzero(nodes[m] != 0)
        sub = adj[m][np.ix_(present, present)]
        rows, cols = np.nonzero(np.triu(sub, 1))
        edges = tuple(
            (
                int(i),
                int(j),
                int(sub[i, j]),
                int(sites[m, present[i], present[j]]),
                int(sites[m, present[j], present[i]]),
            )
            for i, j in zip(rows, cols, strict=True)
        )
        out.append(FragmentGraph(tuple(int(c) for c in nodes[m, present]), edges))
    return out


def _decode_chunk(
    graphs: Sequence[FragmentGraph], vocab: FragmentVocabulary, strict: bool
) -> list[Checked]:
    return [fragment_graph_mol(g, vocab, strict) for g in graphs]


def decode_fragment_mols(
    nodes: torch.Tensor,
    adj: torch.Tensor,
    sites: torch.Tensor,
    vocab: FragmentVocabulary,
    strict: bool = True,
    n_jobs: int | None = None,
) -> list[Checked]:
    """Dense fragment graphs -> the :class:`~molgen.chem.mol.Checked` outcome of each.

    Args:
        nodes: node classes ``[B, N]`` or one-hot / scores ``[B, N, T]`` (argmax taken).
        adj: bond classes ``[B, N, N]`` or one-hot / scores ``[B, N, N, R]``; the upper triangle
            is read.
        sites: site indices ``[B, N, N]`` or one-hot / scores ``[B, N, N, S]``;
            ``sites[b, i, j]`` is read for node ``i`` of each edge ``(i, j)``.
        vocab, strict, n_jobs: as :func:`molgen.chem.graph.decode_mols` has them.
    """
    node_classes = _as_classes(nodes, "nodes", 2, vocab.num_node_types)
    adj_classes = _as_classes(adj, "adj", 3, vocab.num_bond_types)
    site_classes = _as_classes(sites, "sites", 3, vocab.max_sites)
    batch, n = node_classes.shape
    for name, array in (("adj", adj_classes), ("sites", site_classes)):
        if array.shape != (batch, n, n):
            raise ValueError(
                f"{name} must be [B, N, N] = {[batch, n, n]} to match nodes, "
                f"got {list(array.shape)}"
            )
    graphs = _dense_graphs(node_classes, adj_classes, site_classes)
    chunk = functools.partial(_decode_chunk, vocab=vocab, strict=strict)
    with ProcessPool(n_jobs) as pool:
        parts = pool.map(chunk, graphs, min_part=_MIN_PER_JOB)
    return [c for part in parts for c in part]


def decode_fragments(
    nodes: torch.Tensor,
    adj: torch.Tensor,
    sites: torch.Tensor,
    vocab: FragmentVocabulary,
    strict: bool = True,
    n_jobs: int | None = None,
) -> list[str | None]:
    """:func:`decode_fragment_mols`, keeping molgen's canonical SMILES of each valid molecule
    (None for the others)."""
    checked = decode_fragment_mols(nodes, adj, sites, vocab, strict, n_jobs)
    return [c.smiles if c.valid else None for c in checked]
