import pytest
from PIL import Image
from rdkit import Chem

from molgen.chem.draw import draw_grid


def test_grid_size_follows_rows_and_cells(tmp_path):
    items = ["CCO", Chem.MolFromSmiles("c1ccccc1"), None, "not a smiles", "CN"]
    path = draw_grid(items, tmp_path / "sub" / "grid.png", legends=list("abcde"), mols_per_row=2)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (2 * 200, 3 * 200)  # 5 cells, 2 per row -> 3 rows


def test_single_row_is_not_padded(tmp_path):
    with Image.open(draw_grid(["CCO", "CCN"], tmp_path / "g.png", size=(120, 90))) as image:
        assert image.size == (240, 90)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"smiles_or_mols": []}, "empty"),
        ({"legends": ["only one"]}, "legends"),
        ({"mols_per_row": 0}, "mols_per_row"),
        ({"size": (0, 10)}, "size"),
        ({"smiles_or_mols": [42]}, "expected SMILES"),
    ],
)
def test_bad_arguments_raise(tmp_path, kwargs, message):
    args = {"smiles_or_mols": ["CCO", "CCN"], "path": tmp_path / "x.png", **kwargs}
    with pytest.raises(ValueError, match=message):
        draw_grid(**args)


def test_explicit_hydrogens_and_atom_maps_are_drawn_as_the_plain_molecule(tmp_path):
    spelled = draw_grid(["[H]OC([H])([H])[H]", "[CH3:1][OH:2]"], tmp_path / "spelled.png")
    plain = draw_grid(["OC", "CO"], tmp_path / "plain.png")
    with Image.open(spelled) as a, Image.open(plain) as b:
        assert list(a.convert("RGB").getdata()) == list(b.convert("RGB").getdata())
