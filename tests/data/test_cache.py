from pathlib import Path

import pytest
import torch

from molgen.config import DataConfig
from molgen.data import dataset, load_dataset
from molgen.data.cache import load_entry, save_entry

SMILES = "CCO\nCC(=O)[O-]\nc1ccccc1\nC#N\nCN\n"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text(SMILES)
    return path


def config(tmp_path, path, **fields) -> DataConfig:
    split = {"val_fraction": 0.2, "test_fraction": 0.2}
    return DataConfig(name=None, path=path, cache_dir=tmp_path / "cache", **split, **fields)


def count_builds(monkeypatch) -> list[int]:
    calls = []
    build = dataset._build

    def counting(*args, **kwargs):
        calls.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(dataset, "_build", counting)
    return calls


def test_second_load_comes_from_the_cache(tmp_path, source, monkeypatch):
    builds = count_builds(monkeypatch)
    first = load_dataset(config(tmp_path, source))
    second = load_dataset(config(tmp_path, source))
    assert len(builds) == 1
    assert (first.info["cache"], second.info["cache"]) == ("built", "hit")
    assert second.vocab == first.vocab and second.train.smiles == first.train.smiles
    assert torch.equal(second.train.adj, first.train.adj)
    # the split is not part of the key: another seed reuses the processed tensors
    load_dataset(config(tmp_path, source, split_seed=3))
    assert len(builds) == 1


def test_changed_file_or_vocabulary_rebuilds(tmp_path, source, monkeypatch):
    builds = count_builds(monkeypatch)
    load_dataset(config(tmp_path, source))
    source.write_text(SMILES + "CCN\n")
    changed = load_dataset(config(tmp_path, source))
    assert len(builds) == 2 and changed.info["num_molecules"] == 6
    fixed = load_dataset(config(tmp_path, source, atom_types=["C", "N", "O", "O-", "F"]))
    assert len(builds) == 3 and fixed.vocab.atom_types == ("C", "N", "O", "O-", "F")
    load_dataset(config(tmp_path, source, max_atoms=7))
    load_dataset(config(tmp_path, source, aromatic=True))
    assert len(builds) == 5
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 5
    assert not list((tmp_path / "cache").glob("*.tmp"))  # atomic writes leave nothing behind


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_cache_file_is_rebuilt_with_a_warning(tmp_path, source, damage):
    first = load_dataset(config(tmp_path, source))
    cache_file = first.info["cache_file"]
    with open(cache_file, "r+b") as f:
        if damage == "garbage":
            f.write(b"not a torch file")
        else:
            f.truncate(100)
    with pytest.warns(UserWarning, match="rebuilding the dataset cache"):
        again = load_dataset(config(tmp_path, source))
    assert again.info["cache"] == "built" and again.train.smiles == first.train.smiles
    assert load_dataset(config(tmp_path, source)).info["cache"] == "hit"  # repaired


def test_altered_tensors_are_not_trusted(tmp_path, source):
    first = load_dataset(config(tmp_path, source))
    path = first.info["cache_file"]
    entry = torch.load(path, weights_only=True)
    entry["adj"][0, 0, 1] = entry["adj"][0, 1, 0] = 3  # a loadable file with wrong contents
    save_entry(Path(path), entry)
    with pytest.warns(UserWarning, match="checksum"):
        again = load_dataset(config(tmp_path, source))
    assert again.info["cache"] == "built"
    assert torch.equal(again.train.adj, first.train.adj)


def test_load_entry_checks_the_key(tmp_path, source):
    first = load_dataset(config(tmp_path, source))
    path = Path(first.info["cache_file"])
    assert load_entry(path, first.info["source_key"]) is not None
    with pytest.warns(UserWarning, match="key differs"):
        assert load_entry(path, "0" * 64) is None
    assert load_entry(tmp_path / "absent.pt", "0" * 64) is None


@pytest.mark.parametrize("field", ["report", "vocab"])
def test_an_entry_that_passes_its_checksum_but_lacks_a_field_is_rebuilt(
    tmp_path, source, monkeypatch, field
):
    builds = count_builds(monkeypatch)
    first = load_dataset(config(tmp_path, source))
    path = Path(first.info["cache_file"])
    entry = torch.load(path, weights_only=True)
    del entry[field]  # not covered by the checksum, which is over SMILES and tensors
    save_entry(path, entry)
    with pytest.warns(
        UserWarning, match=rf"rebuilding the dataset cache .*field '{field}' is missing"
    ):
        again = load_dataset(config(tmp_path, source))
    assert len(builds) == 2 and again.vocab == first.vocab
