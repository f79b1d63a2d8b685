"""Molecules as labelled networkx graphs, as GDSS's ``mols_to_nx`` (``utils/mol_utils.py``)
builds them for its NSPDK MMD: one node per heavy atom (RDKit's atom order, hydrogens
implicit), labelled with its element symbol; one edge per bond, labelled with
``int(bond.GetBondTypeAsDouble())``: 1 single, 2 double, 3 triple, and 1 for aromatic (1.5
truncated, as GDSS does). Charges, hydrogens and aromaticity of atoms are not labels."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
from rdkit import Chem

from molgen.chem.mol import parse_smiles

__all__ = ["labelled_graph", "labelled_graphs"]


def labelled_graph(mol: Chem.Mol) -> nx.Graph:
    """GDSS's ``mols_to_nx`` of one molecule: nodes ``0..n-1`` with ``label`` (element symbol),
    edges with ``label`` (integer bond order, aromatic 1)."""
    graph = nx.Graph()
    for atom in mol.GetAtoms():
        graph.add_node(atom.GetIdx(), label=atom.GetSymbol())
    for bond in mol.GetBonds():
        graph.add_edge(
            bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), label=int(bond.GetBondTypeAsDouble())
        )
    return graph


def labelled_graphs(smiles: Sequence[str]) -> list[nx.Graph]:
    """:func:`labelled_graph` of each SMILES as molgen reads it
    (:func:`~molgen.chem.mol.parse_smiles`); ValueError naming one that does not parse."""
    graphs = []
    for text in smiles:
        mol = parse_smiles(text)
        if mol is None:
            raise ValueError(f"smiles: {text!r} does not parse")
        graphs.append(labelled_graph(mol))
    return graphs
