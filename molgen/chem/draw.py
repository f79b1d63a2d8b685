"""Molecule grid images (RDKit drawing)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Draw

from molgen.chem.mol import parse_smiles

__all__ = ["draw_grid"]


def draw_grid(
    smiles_or_mols: Sequence[str | Chem.Mol | None],
    path: str | Path,
    legends: Sequence[str] | None = None,
    mols_per_row: int = 8,
    size: tuple[int, int] = (200, 200),
) -> Path:
    """Draw molecules as a PNG grid of ``ceil(n / mols_per_row)`` rows of ``size`` cells.

    SMILES are read as everywhere in molgen (:func:`~molgen.chem.mol.parse_smiles`: explicit
    hydrogens removed, atom maps cleared). Entries that are None or SMILES that do not parse
    become empty cells, so legends stay aligned with their molecules. Returns the path written.
    """
    if mols_per_row < 1:
        raise ValueError(f"mols_per_row must be >= 1, got {mols_per_row}")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be two positive integers, got {size}")
    if len(smiles_or_mols) == 0:
        raise ValueError("smiles_or_mols is empty: nothing to draw")
    if legends is not None and len(legends) != len(smiles_or_mols):
        raise ValueError(f"legends has {len(legends)} entries for {len(smiles_or_mols)} molecules")
    mols = [_to_mol(item) for item in smiles_or_mols]
    image = Draw.MolsToGridImage(
        mols,
        molsPerRow=min(mols_per_row, len(mols)),
        subImgSize=tuple(size),
        legends=list(legends) if legends is not None else None,
        returnPNG=False,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def _to_mol(item: str | Chem.Mol | None) -> Chem.Mol | None:
    if item is None or isinstance(item, Chem.Mol):
        return item
    if not isinstance(item, str):
        raise ValueError(f"smiles_or_mols: expected SMILES, RDKit Mol or None, got {type(item)}")
    return parse_smiles(item)
