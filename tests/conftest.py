import os

import pytest
import torch

# Tests never talk to W&B servers.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def cpp_compiler():
    """Skip the test where torch.compile's CPU backend has no C++ compiler (as train.compile
    refuses to run there)."""
    from molgen.training.state import _check_cpp_compiler

    try:
        _check_cpp_compiler()
    except ValueError as error:
        pytest.skip(str(error))


def _spellings(smiles: str, seed: int = 0) -> list[str]:
    """Other ways to write the molecule ``smiles``, built with RDKit alone: explicit hydrogens
    (as 3D tools write them), kekulé, random atom order, explicit hydrogens in random kekulé
    order, and atom-mapped with explicit hydrogens."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    with_hs = Chem.AddHs(mol)
    kekule = Chem.Mol(mol)
    Chem.Kekulize(kekule, clearAromaticFlags=True)
    mapped = Chem.Mol(with_hs)
    for atom in mapped.GetAtoms():
        atom.SetAtomMapNum(atom.GetIdx() + 1)
    Chem.rdBase.SeedRandomNumberGenerator(seed)  # doRandom draws from RDKit's generator
    return [
        Chem.MolToSmiles(with_hs),
        Chem.MolToSmiles(kekule, kekuleSmiles=True),
        Chem.MolToSmiles(mol, doRandom=True),
        Chem.MolToSmiles(with_hs, kekuleSmiles=True, doRandom=True),
        Chem.MolToSmiles(mapped),
    ]


@pytest.fixture
def spellings():
    """``spellings(smiles, seed=0)``: the molecule written in other ways (see _spellings)."""
    return _spellings
