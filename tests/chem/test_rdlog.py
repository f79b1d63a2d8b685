from rdkit import Chem

from molgen.chem import rdkit_quiet
from molgen.chem.properties import classify_smiles

PENTAVALENT = "C(C)(C)(C)(C)C"


def test_rdkit_is_quiet_only_inside_the_block(capfd):
    assert classify_smiles([PENTAVALENT]) == [(None, "valence")]
    with rdkit_quiet():
        assert Chem.MolFromSmiles(PENTAVALENT) is None
        with rdkit_quiet():  # nested blocks restore the outer state
            Chem.MolFromSmiles(PENTAVALENT)
        Chem.MolFromSmiles(PENTAVALENT)
    assert capfd.readouterr().err == ""
    assert Chem.MolFromSmiles(PENTAVALENT) is None  # outside: RDKit says why, as usual
    assert "Explicit valence" in capfd.readouterr().err
