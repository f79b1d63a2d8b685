"""Ring systems: what they are, how they are cut out of molecules and mined from a dataset.

Definitions
-----------
*Ring system* (a *unit*): a connected component of a molecule's ring bonds, so rings that
share a bond (fused, bridged) **or only one atom (spiro)** are one unit. Spiro rings are merged
because every atom belongs to exactly one node of a fragment graph
(:mod:`molgen.chem.fragments`); keeping them apart would need an edge made of two bonds. A unit
also holds every non-ring atom double-bonded to one of its ring atoms (``C=O``, ``C=S``,
``C=N``, exocyclic ``C=C``), unless that atom is double-bonded to ring atoms of two units (then
it stays an atom).

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
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from rdkit import Chem

from molgen.chem.graph import BOND_TYPES, MolGraph, mol_graphs
from molgen.chem.mol import parse_smiles
from molgen.chem.rdlog import rdkit_quiet
from molgen.parallel import ProcessPool

__all__ = [
    "MinedMolecule",
    "MinedRingSystems",
    "RingSystem",
    "RingSystemAtoms",
    "mine_ring_systems",
    "ring_systems_of",
]

_RDKIT_BONDS = {name: getattr(Chem.BondType, name) for name in BOND_TYPES}
_BOND_NAMES = {bond_type: name for name, bond_type in _RDKIT_BONDS.items()}
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
