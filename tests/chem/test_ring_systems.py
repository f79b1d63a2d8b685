"""Ring systems: cut out of molecules, mined with their counts, their sites and symmetry."""

import itertools

import numpy as np
import pytest
from fragment_cases import HARD, reference
from rdkit import Chem

from molgen.chem import canonical_smiles, parse_smiles
from molgen.chem.ring_systems import RingSystem, mine_ring_systems, ring_systems_of

# --------------------------------------------------------------------------- mining


def test_fused_and_spiro_rings_are_one_unit_and_exocyclic_double_bonds_stay_inside():
    def units(smiles):
        return [u.smiles for u in ring_systems_of(parse_smiles(smiles))]

    assert units("Cc1ccc2cc(Cl)ccc2c1") == ["c1ccc2ccccc2c1"]
    assert units("CC1CCC2(CC1)CCNC2") == [reference("C1CCC2(CC1)CCNC2")]
    assert units("c1ccc(-c2ccccc2)cc1") == ["c1ccccc1", "c1ccccc1"]
    assert units("NC1CCCCC1=O") == ["O=C1CCCCC1"]
    assert units("ON=C1CCCCC1") == ["N=C1CCCCC1"]
    assert units("CC1CCS(=O)(=O)C1") == ["O=S1(=O)CCCC1"]
    # an atom double-bonded to two ring systems belongs to neither
    assert units("C1CCC(=C=C2CCCC2)CC1") == ["C1CCCCC1", "C1CCCC1"]
    # substituents become hydrogens: the unit keeps its charge, aromaticity and H counts
    assert units("C[n+]1ccccc1") == units("[O-][n+]1ccccc1") == ["c1cc[nH+]cc1"]
    assert units("Cn1cccc1") == units("c1cc[nH]c1") == ["c1cc[nH]c1"]
    assert units("O=c1cccc[nH]1") == ["O=c1cccc[nH]1"]
    assert units("CCOC(=O)C") == []


def test_unit_atoms_follow_the_template_order():
    mol = parse_smiles("Clc1ccc2[nH]ccc2c1")
    (unit,) = ring_systems_of(mol)
    template = Chem.MolFromSmiles(unit.smiles)
    assert sorted(unit.atoms) == list(range(1, mol.GetNumAtoms()))
    for t, a in enumerate(unit.atoms):
        atom, twin = mol.GetAtomWithIdx(a), template.GetAtomWithIdx(t)
        assert (atom.GetSymbol(), atom.GetIsAromatic()) == (twin.GetSymbol(), twin.GetIsAromatic())
    for bond in template.GetBonds():
        i, j = unit.atoms[bond.GetBeginAtomIdx()], unit.atoms[bond.GetEndAtomIdx()]
        assert mol.GetBondBetweenAtoms(i, j).GetBondType() == bond.GetBondType()


def test_mined_counts_and_k_for_coverage_against_a_direct_count():
    smiles = HARD + ["c1ccccc1", "Cc1ccccc1", "c1ccncc1", "C1CCCCC1", "OC1CCCCC1"]
    mined = mine_ring_systems(smiles)
    per_molecule = [{u.smiles for u in ring_systems_of(parse_smiles(s))} for s in smiles]
    holding = {name: sum(name in units for units in per_molecule) for name, _, _ in mined.ranked}
    assert [h for _, h, _ in mined.ranked] == sorted(holding.values(), reverse=True)
    assert mined.ranked[0][0] == "c1ccccc1"
    assert [n for _, n, _ in mined.ranked] and all(
        n == holding[name] for name, n, _ in mined.ranked
    )
    for share in (0.3, 0.5, 0.8, 1.0):
        k = mined.k_for_coverage(share)
        covered = [np.mean([u <= set(mined.top(kk)) for u in per_molecule]) for kk in (k - 1, k)]
        assert covered[1] >= share and (k == 0 or covered[0] < share)
    with pytest.raises(ValueError, match="coverage"):
        mined.k_for_coverage(0.0)
    bad = mine_ring_systems(["CCO", "C1CC"])
    assert len(bad.molecules) == 1 and "C1CC" in bad.failed[0]


# --------------------------------------------------------------------------- ring systems


def methylated(system: RingSystem, site: int) -> str:
    """The unit with a methyl on one site, built independently of the codec."""
    mol = Chem.RWMol(Chem.MolFromSmiles(system.smiles))
    atom = system.sites[site]
    carbon = mol.AddAtom(Chem.Atom(6))
    mol.AddBond(atom, carbon, Chem.BondType.SINGLE)
    target = mol.GetAtomWithIdx(atom)
    if target.GetNumExplicitHs():
        target.SetNumExplicitHs(target.GetNumExplicitHs() - 1)
    Chem.SanitizeMol(mol)
    return canonical_smiles(mol)


@pytest.mark.parametrize(
    "smiles, sites, classes",
    [
        ("c1ccccc1", 6, 1),
        ("c1ccncc1", 5, 3),
        ("c1ccc2ccccc2c1", 8, 2),
        ("C1CCCCC1", 6, 1),
        ("c1cc[nH]c1", 5, 3),
        ("O=C1CCCCC1", 5, 3),
        ("c1ccc2[nH]ccc2c1", 7, 7),
    ],
)
def test_sites_are_atoms_with_hydrogens_and_classes_are_their_symmetry(smiles, sites, classes):
    system = RingSystem(smiles)
    template = Chem.MolFromSmiles(smiles)
    assert system.num_sites == sites
    assert system.budgets == tuple(template.GetAtomWithIdx(t).GetTotalNumHs() for t in system.sites)
    assert system.num_site_classes == classes
    # independent check: two sites are one class iff methylating either gives one molecule
    products = [methylated(system, s) for s in range(system.num_sites)]
    for a, b in itertools.combinations(range(system.num_sites), 2):
        same_class = system.site_classes[a] == system.site_classes[b]
        assert same_class == (products[a] == products[b])
    # every symmetry maps sites to sites of the same class
    for perm in system.site_permutations:
        assert all(system.site_classes[perm[s]] == system.site_classes[s] for s in perm)


def test_ring_system_rejects_non_rings():
    with pytest.raises(ValueError, match="with a ring"):
        RingSystem("CCO")
    with pytest.raises(ValueError, match="with a ring"):
        RingSystem("C1CC")
    with pytest.raises(ValueError, match="write 'c1ccncc1'"):
        RingSystem("n1ccccc1")
