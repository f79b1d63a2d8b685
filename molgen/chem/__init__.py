"""The chemistry boundary: the only place molgen imports RDKit."""

from molgen.chem.mol import Checked, canonical_smiles, check_mol, check_smiles

__all__ = ["Checked", "canonical_smiles", "check_mol", "check_smiles"]
