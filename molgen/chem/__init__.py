"""The chemistry boundary: the only place molgen imports RDKit."""

from molgen.chem.fragments import (
    FragmentGraph,
    FragmentVocabulary,
    RingSystem,
    decode_fragment_mols,
    decode_fragments,
    encode_fragments,
    fragment_graphs,
    mine_ring_systems,
)
from molgen.chem.graph import (
    BOND_TYPES,
    MolGraph,
    Vocabulary,
    decode,
    decode_mols,
    encode,
    mol_graphs,
    parse_atom_type,
)
from molgen.chem.mol import Checked, canonical_smiles, check_mol, check_smiles, parse_smiles
from molgen.chem.rdlog import rdkit_quiet
from molgen.chem.valence import (
    BOND_ORDERS,
    aromatic_rings_problem,
    aromatic_role,
    aromatic_roles,
    atom_valence,
    atom_valences,
    bond_orders,
)

__all__ = [
    "BOND_ORDERS",
    "BOND_TYPES",
    "Checked",
    "FragmentGraph",
    "FragmentVocabulary",
    "MolGraph",
    "RingSystem",
    "Vocabulary",
    "aromatic_rings_problem",
    "aromatic_role",
    "aromatic_roles",
    "atom_valence",
    "atom_valences",
    "bond_orders",
    "canonical_smiles",
    "check_mol",
    "check_smiles",
    "decode",
    "decode_fragment_mols",
    "decode_fragments",
    "decode_mols",
    "encode",
    "encode_fragments",
    "fragment_graphs",
    "mine_ring_systems",
    "mol_graphs",
    "parse_atom_type",
    "parse_smiles",
    "rdkit_quiet",
]
