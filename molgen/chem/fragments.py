"""Ring systems as graph nodes: the codec between molecules and fragment graphs.

A :class:`~molgen.chem.fragment_vocabulary.FragmentVocabulary` names the nodes: atom types and
the most frequent ring systems of a training set (:mod:`molgen.chem.ring_systems` defines ring
systems, their unit SMILES, templates and sites, and mines them). This module also re-exports
those modules' public names, so the whole fragment representation imports from here.

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
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from rdkit import Chem

from molgen.chem.fragment_vocabulary import FragmentVocabulary as FragmentVocabulary
from molgen.chem.fragment_vocabulary import node_site_budgets as node_site_budgets
from molgen.chem.graph import _as_classes, mol_graphs
from molgen.chem.mol import Checked, check_mol, parse_smiles
from molgen.chem.rdlog import rdkit_quiet
from molgen.chem.ring_systems import _MIN_PER_JOB, _RDKIT_BONDS
from molgen.chem.ring_systems import MinedMolecule as MinedMolecule
from molgen.chem.ring_systems import MinedRingSystems as MinedRingSystems
from molgen.chem.ring_systems import RingSystem as RingSystem
from molgen.chem.ring_systems import RingSystemAtoms as RingSystemAtoms
from molgen.chem.ring_systems import mine_ring_systems as mine_ring_systems
from molgen.chem.ring_systems import ring_systems_of as ring_systems_of
from molgen.parallel import ProcessPool

# The names imported as ``X as X`` above are re-exported: the ring systems and the vocabulary
# live in their own modules and stay importable from here, where the fragment representation
# began. They stay out of __all__ so the API reference documents each object once, at home.
__all__ = [
    "FragmentGraph",
    "decode_fragment_mols",
    "decode_fragments",
    "encode_fragments",
    "fragment_graph_mol",
    "fragment_graphs",
    "fragment_graphs_to_arrays",
]

#: Hydrogens a bond to another node takes from a ring-system site.
_BOND_HYDROGENS = {"SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "AROMATIC": 1}


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
