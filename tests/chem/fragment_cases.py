"""Molecules shared by the fragment tests: hard cases of ring systems, sites and symmetry, and
molgen's canonical SMILES computed straight from RDKit."""

from rdkit import Chem

from molgen.chem import canonical_smiles

HARD_CASES = {
    "ortho": "Cc1ccccc1Cl",
    "meta": "Cc1cccc(Cl)c1",
    "para": "Cc1ccc(Cl)cc1",
    "naphthalene, 2 substituents": "Cc1ccc2cc(Cl)ccc2c1",
    "naphthalene, same ring": "Cc1cccc2ccccc12",
    "spiro": "CC1CCC2(CC1)CCNC2",
    "dispiro": "C1CC12CC21CC1",
    "N-alkyl pyridinium": "C[n+]1ccccc1",
    "pyridine N-oxide": "[O-][n+]1ccccc1C",
    "pyrrole NH": "Cc1cc[nH]c1",
    "N-methylpyrrole": "Cn1cccc1",
    "indole NH": "Oc1ccc2[nH]ccc2c1",
    "pyridone": "O=c1cccc[nH]1",
    "C=O on a ring": "NC1CCCCC1=O",
    "imide": "CN1C(=O)CCC1=O",
    "sulfone in ring": "CC1CCS(=O)(=O)C1",
    "thione": "S=C1NCCN1C",
    "oxime on ring": "ON=C1CCCCC1",
    "exocyclic C=C": "C=C1CCC(C)CC1",
    "double bond between two ring systems": "C1=CC(=C2CCCC2)C=C1",
    "allene between two ring systems": "C1CCC(=C=C2CCCC2)CC1",
    "biphenyl": "c1ccc(-c2ccccc2)cc1",
    "phenylpyridine": "Cc1ccc(-c2ccncc2)cc1",
    "macrocycle": "CC1CCCCCCCCCCCCC1",
    "bridged": "CC12CC3CC(CC(C3)C1)C2",
    "norbornene": "C1=CC2CCC1C2",
    "charged ring N": "C[N+]1(C)CCCC1",
    "carboxylate": "CC(=O)[O-]",
    "no ring": "CCOC(=O)C(C)N",
    "one atom": "C",
    "drug": "CC(=O)Nc1ccc(OCC(O)CN2CCN(c3ncccn3)CC2)cc1",
}
HARD = list(HARD_CASES.values())


def reference(smiles: str) -> str:
    """molgen's canonical SMILES computed straight from RDKit."""
    return canonical_smiles(Chem.MolFromSmiles(smiles))
