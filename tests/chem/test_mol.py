import pytest
from rdkit import Chem

from molgen.chem import canonical_smiles, check_smiles, parse_smiles
from molgen.data import bundled_path, read_smiles

# Hydrogens MolFromSmiles keeps (isotopic, bridging, on hydrogen, lone, charged, on a dummy
# atom), charges, isotopes, atom maps on heavy atoms and on hydrogens, stereo, salts.
EDGE_CASES = [
    "[2H]C([2H])([2H])O",
    "[3H]O[3H]",
    "[13CH3]O",
    "[H][H]",
    "[H]",
    "[H+]",
    "[H-]",
    "C[H-]C",
    "*[H]",
    "[H]OO[H]",
    "[H]/C(C)=C(/[H])C",
    "[H][C@](F)(Cl)Br",
    "[H]n1cccc1",
    "[H]c1ccccc1",
    "[H][N+]([H])([H])[H]",
    "CC(=O)[O-].[Na+]",
    "[CH3:1][OH:2]",
    "[H:3]OC",
    "[2H:1]OC",
    "[NH3+:4]CC(=O)[O-:7]",
    "C([H])([H])([H])([H])[H]",  # pentavalent: invalid in both
    "c1cc1[H]",
]


def molfromsmiles_canonical(smiles: str) -> str | None:
    """The definition: RDKit's default parser, atom maps and isotopes cleared (hydrogens that
    were isotopes then removed as the parser removes hydrogens), non-isomeric SMILES."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    for atom in mol.GetAtoms():
        atom.SetAtomMapNum(0)
        atom.SetIsotope(0)
    return Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False)


@pytest.fixture(scope="module")
def qm9_sample() -> list[str]:
    return [r.smiles for r in read_smiles(bundled_path("qm9_5k"))][:300]


def test_canonical_form_is_that_of_rdkits_default_parser(qm9_sample, spellings):
    inputs = EDGE_CASES + [s for smiles in qm9_sample for s in spellings(smiles)]
    for smiles in inputs:
        expected = molfromsmiles_canonical(smiles)
        checked = check_smiles(smiles, strict=False)
        assert checked.smiles == expected, smiles
        mol = parse_smiles(smiles)
        assert (mol is None) == (expected is None), smiles
        if mol is not None:
            assert canonical_smiles(mol) == expected, smiles
            assert all(atom.GetAtomMapNum() == 0 for atom in mol.GetAtoms())


def test_spellings_of_a_molecule_give_one_canonical_string(qm9_sample, spellings):
    for seed, smiles in enumerate(qm9_sample):
        plain = check_smiles(smiles)
        assert plain.valid
        for other in spellings(smiles, seed):
            checked = check_smiles(other)
            assert (checked.smiles, checked.reason) == (plain.smiles, None), other


def test_hydrogens_maps_and_isotopes_are_removed():
    assert check_smiles("[H]OC([H])([H])[H]").smiles == "CO"
    assert check_smiles("[CH3:1][OH:2]").smiles == "CO"
    assert check_smiles("[H][H]").smiles == "[H][H]"  # kept, as MolFromSmiles keeps it
    # isotopes are cleared: a deuterium is a hydrogen, removed like one
    assert check_smiles("[2H]OC").smiles == "CO"
    assert check_smiles("[2H]C([2H])([2H])[2H]").smiles == "C" == check_smiles("[13CH4]").smiles
    assert parse_smiles("[H]OC([H])([H])[H]").GetNumAtoms() == 2


def test_validity_reasons_with_explicit_hydrogens():
    assert check_smiles("C([H])([H])([H])([H])[H]").reason == "valence"
    assert check_smiles("[H]c1cc1").reason == "kekulization"
    assert check_smiles("[H]C.[H]O").reason == "disconnected"
    assert check_smiles("[H]C.[H]O", strict=False).smiles == "C.O"
    assert check_smiles("[H]X").reason == "parse"
    assert parse_smiles("[H]c1cc1") is None and parse_smiles("") is None


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("CC\u00d6", "characters"),  # RDKit alone trims it and reads ethane
        ("\x00CCO", "characters"),
        ("CCO\x01", "characters"),
        ("C\x0bC", "characters"),
        ("CC\udcffO", "encoding"),  # a byte that was not UTF-8 (surrogateescape)
        (" CCO\r\n", None),  # surrounding spaces and line ends are not part of a SMILES
    ],
)
def test_text_that_rdkit_would_trim_is_invalid(smiles, reason):
    assert check_smiles(smiles).reason == reason
    assert (parse_smiles(smiles) is None) == (reason is not None)


def test_max_atoms_is_checked_before_sanitizing():
    assert check_smiles("C" * 1001, max_atoms=1000).reason == "too_large"
    assert check_smiles("C" * 1000, max_atoms=1000).valid
    # hydrogens are not heavy atoms
    assert check_smiles("[H]C([H])([H])C([H])([H])[H]", max_atoms=2).valid
