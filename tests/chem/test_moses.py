import csv
import importlib.util

import pytest
from rdkit import Chem

from molgen.chem import moses
from molgen.chem.moses import classify_smiles_moses, moses_file, passes_moses_filters
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


@needs_molsets
def test_filters_match_a_plain_loop_over_moses_smarts():
    with open(moses_file("metrics/mcf.csv"), newline="") as f:
        mcf = [Chem.MolFromSmarts(row["smarts"]) for row in csv.DictReader(f)]
    with open(moses_file("metrics/wehi_pains.csv"), newline="") as f:
        pains = [Chem.MolFromSmarts(row[0].strip()) for row in csv.reader(f) if row]
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


def test_missing_molsets_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingExtraError, match="pip install --no-deps molsets==0.3.1"):
        moses_file("dataset/data/test.csv.gz")
