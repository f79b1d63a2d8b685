import csv
import importlib.util

import numpy as np
import pytest
from rdkit import Chem

from molgen.chem import moses
from molgen.chem.moses import classify_smiles_moses, moses_file, passes_moses_filters
from molgen.data import bundled_path, read_smiles
from molgen.errors import MissingExtraError

needs_molsets = pytest.mark.skipif(
    importlib.util.find_spec("moses") is None, reason="molsets wheel not installed"
)


def test_classify_follows_moses_validity_and_canonical_form():
    got = classify_smiles_moses(["OCC", "CC.O", "F/C=C/F", "C(C)(C)(C)(C)C", "", None, "[H]OC"])
    assert got == [
        ("CCO", None),
        ("CC.O", None),  # fragments are valid for MOSES
        ("F/C=C/F", None),  # stereo kept
        (None, "parse"),
        (None, "empty"),
        (None, "parse"),
        ("CO", None),  # RDKit's default parser removes the hydrogen
    ]


def test_classify_caps_heavy_atoms():
    got = classify_smiles_moses(
        ["CCCCC", "CCCC", "[CH3][CH2]CC", "[H]C([H])([H])CCCC"], max_atoms=4
    )
    # more than 4 heavy atoms however long the string; hydrogens are not counted
    assert got == [(None, "too_large"), ("CCCC", None), ("CCCC", None), (None, "too_large")]
    assert classify_smiles_moses(["[H]C([H])([H])CCC"], max_atoms=4) == [("CCCC", None)]


def test_classify_counts_a_smiles_longer_than_the_line_cap_before_rdkit(monkeypatch):
    from molgen.chem.mol import MAX_SMILES_LENGTH

    def no_rdkit(*args, **kwargs):
        raise AssertionError("RDKit read a SMILES longer than the cap")

    monkeypatch.setattr(moses.Chem, "MolFromSmiles", no_rdkit)
    over = "C" * (MAX_SMILES_LENGTH + 1)
    assert classify_smiles_moses([over], max_atoms=None) == [(None, "too_long")]


def moses_smarts() -> tuple[list[Chem.Mol], list[Chem.Mol]]:
    """MOSES' MCF and PAINS patterns, read as MOSES reads them."""
    with open(moses_file("metrics/mcf.csv"), newline="") as f:
        mcf = [Chem.MolFromSmarts(row["smarts"]) for row in csv.DictReader(f)]
    with open(moses_file("metrics/wehi_pains.csv"), newline="") as f:
        pains = [Chem.MolFromSmarts(row[0].strip()) for row in csv.reader(f) if row]
    return mcf, pains


def moses_mol_passes_filters(mol: Chem.Mol, patterns: list[Chem.Mol]) -> bool:
    """``moses.metrics.utils.mol_passes_filters``, line for line, with no screen."""
    if any(len(ring) >= 8 for ring in mol.GetRingInfo().AtomRings()):
        return False
    h_mol = Chem.AddHs(mol)
    if any(atom.GetFormalCharge() != 0 for atom in mol.GetAtoms()):
        return False
    if any(
        atom.GetSymbol() not in {"C", "N", "S", "O", "F", "Cl", "Br", "H"}
        for atom in mol.GetAtoms()
    ):
        return False
    if any(h_mol.HasSubstructMatch(p) for p in patterns):
        return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smiles) and Chem.MolFromSmiles(smiles) is not None


#: Molecules that MOSES' other checks reject or that stress the matching: charged, big rings,
#: explicit and isotopic hydrogens, other elements, fragments, stereo.
ODD_MOLECULES = (
    "C[N+](C)(C)C",
    "CC(=O)[O-].[Na+]",
    "C1CCCCCCCCCCC1",
    "O=C1CCCCCCC(=O)N1",
    "[H]OC([H])([H])c1ccccc1",
    "[2H]C([2H])([2H])c1ccccc1O",
    "CP(C)(=O)OC",
    "c1ccc2ccccc2c1.CCO",
    "C[C@H](N)C(=O)O",
    "F/C=C/C(=O)c1ccc(O)cc1",
    "O=C1C=CC(=O)C=C1",
    "C=CC#N",
    "N=Nc1ccccc1",
    "Oc1ccc(O)cc1",
    "c1ccc(-c2ccccn2)nc1",
    "S=C1NC(=O)C(=Cc2ccccc2)S1",
)


def screened_molecules(n_moses: int, n_qm9: int) -> list[Chem.Mol]:
    """Molecules for the screen's tests: MOSES test molecules (all pass MOSES' filters), QM9
    molecules (many match an MCF pattern), each filter pattern read as a molecule where that
    parses (it matches itself), and :data:`ODD_MOLECULES`."""
    from molgen.metrics.moses import read_moses_split

    smiles = read_moses_split("test")[:n_moses]
    smiles += [r.smiles for r in read_smiles(bundled_path("qm9_5k"))][:n_qm9]
    smiles += [s for s in moses._filter_smarts() if Chem.MolFromSmiles(s) is not None]
    smiles += ODD_MOLECULES
    return [Chem.MolFromSmiles(s) for s in smiles]


def assert_screen_keeps_every_match(mols: list[Chem.Mol]) -> int:
    """Every (molecule, pattern) match is a pattern the screen keeps, and the filters equal
    MOSES' unscreened ones on every molecule; returns the number of matches seen."""
    mcf, pains = moses_smarts()
    patterns = mcf + pains
    own_patterns, pattern_bits = moses._filter_patterns()
    assert [Chem.MolToSmarts(p) for p in own_patterns] == [Chem.MolToSmarts(p) for p in patterns]
    n_matches = 0
    for mol in mols:
        h_mol = Chem.AddHs(mol)
        kept = ~(pattern_bits & ~moses._pattern_bits(h_mol)).any(axis=1)
        matched = [h_mol.HasSubstructMatch(p) for p in patterns]
        missed = [k for k, hit in enumerate(matched) if hit and not kept[k]]
        assert not missed, (Chem.MolToSmiles(mol), missed)
        n_matches += sum(matched)
        assert passes_moses_filters(mol) is moses_mol_passes_filters(mol, patterns)
    return n_matches


@needs_molsets
def test_filters_match_a_plain_loop_over_moses_smarts():
    mcf, pains = moses_smarts()
    expected = {
        "CC(C)Cc1ccc(cc1)C(C)C(=O)O": True,
        "C1CCCCCC1": True,  # a ring of 7
        "C1CCCCCCC1": False,  # a ring of 8
        "C1CCCCCCCC1": False,  # a ring of 9
        "C[N+](C)(C)C": False,  # charged
        "CP(C)C": False,  # P is not allowed
        "C=CC#N": False,  # MCF1
        "O=C1C=CC(=O)C=C1": False,  # a PAINS pattern only (quinone)
    }
    for smiles, passes in expected.items():
        mol = Chem.MolFromSmiles(smiles)
        hits = [p for p in mcf + pains if Chem.AddHs(mol).HasSubstructMatch(p)]
        assert passes_moses_filters(mol) is passes, smiles
        if smiles in ("C=CC#N", "O=C1C=CC(=O)C=C1"):
            assert hits and (hits[0] in pains) == (smiles == "O=C1C=CC(=O)C=C1")
    assert len(mcf) + len(pains) == len(moses._filter_smarts())


@needs_molsets
def test_filter_screen_never_skips_a_matching_pattern():
    mols = screened_molecules(n_moses=200, n_qm9=400)
    assert assert_screen_keeps_every_match(mols) > 200  # the screen was put to the test
    # the screen is worth it: it leaves few patterns to match on drug-like molecules
    _, pattern_bits = moses._filter_patterns()
    kept = [~(pattern_bits & ~moses._pattern_bits(Chem.AddHs(m))).any(axis=1) for m in mols[:200]]
    assert np.mean(kept) < 0.2


@pytest.mark.slow
@needs_molsets
def test_filter_screen_never_skips_a_matching_pattern_exhaustive():
    mols = screened_molecules(n_moses=10_000, n_qm9=5_000)
    assert assert_screen_keeps_every_match(mols) > 1000


def test_missing_molsets_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingExtraError, match="pip install --no-deps molsets==0.3.1"):
        moses_file("dataset/data/test.csv.gz")


def _stand_in_wheel(monkeypatch, tmp_path, train: bytes | None = None) -> None:
    """An installed ``moses`` package folder, whose ``train`` split holds ``train`` (gzipped;
    no data files when None)."""
    import gzip

    folder = tmp_path / "moses"
    (folder / "dataset" / "data").mkdir(parents=True)
    if train is not None:
        (folder / "dataset" / "data" / "train.csv.gz").write_bytes(gzip.compress(train))
    spec = importlib.util.spec_from_file_location(
        "moses", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)


def test_an_incomplete_wheel_names_the_missing_file(monkeypatch, tmp_path):
    _stand_in_wheel(monkeypatch, tmp_path)
    with pytest.raises(MissingExtraError, match="train.csv.gz.*pip install --no-deps molsets"):
        moses.iter_moses_split("train")


def test_a_split_is_read_lazily_below_its_header(monkeypatch, tmp_path):
    _stand_in_wheel(monkeypatch, tmp_path, b"SMILES\nCCO\nc1ccccc1 \nCCN\n")
    lines = moses.iter_moses_split("train")
    assert not isinstance(lines, list)
    assert list(lines) == ["CCO", "c1ccccc1", "CCN"]
    assert moses.read_moses_split("train") == ["CCO", "c1ccccc1", "CCN"]


def test_a_split_without_its_header_is_refused(monkeypatch, tmp_path):
    _stand_in_wheel(monkeypatch, tmp_path, b"smiles,name\nCCO,x\n")
    with pytest.raises(ValueError, match="train.csv.gz: expected the header SMILES"):
        moses.read_moses_split("train")
    with pytest.raises(ValueError, match="unknown MOSES split 'valid'"):
        moses.read_moses_split("valid")
