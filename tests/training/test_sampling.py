import pytest
import torch

import molgen.training.sampling as sampling
from molgen.chem import Vocabulary
from molgen.config import load_config
from molgen.models import Generator
from molgen.training import CheckpointError, save_checkpoint
from molgen.training.sampling import iter_samples, load_run, sample_smiles

TRAIN = ["CCO", "CCN", "C1CC1"]


@pytest.fixture
def run_dir(tmp_path):
    cfg = load_config("configs/debug.yaml")
    vocab = Vocabulary(("C", "N", "O"), max_atoms=6)
    generator = Generator(cfg.generator, vocab.max_atoms, vocab.num_atom_types, 4)
    state = {
        "config": cfg.model_dump(mode="json"),
        "vocab": vocab.to_dict(),
        "generator": generator.state_dict(),
        "tau": 0.5,
        "train_smiles": ["C"],  # the checkpoint's own copy; train.smi is what the run wrote
    }
    save_checkpoint(state, tmp_path / "checkpoint.pt")
    (tmp_path / "train.smi").write_text("\n".join(TRAIN) + "\n")
    return tmp_path, generator


def test_load_run_reads_the_checkpoint_once_and_train_smi(run_dir, monkeypatch):
    path, generator = run_dir
    loads = []
    real_load = sampling.load_checkpoint
    monkeypatch.setattr(
        sampling, "load_checkpoint", lambda *a, **k: loads.append(a) or real_load(*a, **k)
    )
    run = load_run(path)
    assert len(loads) == 1
    assert run.checkpoint == path / "checkpoint.pt" and run.tau == 0.5
    assert run.train_smiles == TRAIN and run.vocab.atom_types == ("C", "N", "O")
    for name, value in generator.state_dict().items():
        torch.testing.assert_close(run.generator.state_dict()[name], value, rtol=0, atol=0)
    (path / "train.smi").unlink()  # a checkpoint moved on its own: its copy of the molecules
    assert load_run(path / "checkpoint.pt").train_smiles == ["C"]


def test_a_pairwise_bond_head_round_trips_through_a_checkpoint(tmp_path):
    cfg = load_config("configs/debug.yaml", ["generator.bond_head=pairwise"])
    vocab = Vocabulary(("C", "N", "O"), max_atoms=6)
    torch.manual_seed(0)
    generator = Generator(cfg.generator, vocab.max_atoms, vocab.num_atom_types, 4)
    state = {
        "config": cfg.model_dump(mode="json"),
        "vocab": vocab.to_dict(),
        "generator": generator.state_dict(),
        "tau": 0.5,
        "train_smiles": ["C"],
    }
    assert "bond_head.atom_embedding" in state["generator"]
    save_checkpoint(state, tmp_path / "checkpoint.pt")
    run = load_run(tmp_path)
    assert run.generator.bonds_need_atoms
    for name, value in generator.state_dict().items():
        assert torch.equal(run.generator.state_dict()[name], value), name
    z = generator.sample_noise(8)
    generator.eval()
    drawn = generator(z, generator=torch.Generator().manual_seed(1))
    loaded = run.generator(z, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(drawn, loaded, strict=True))


def test_a_loaded_run_samples_like_its_checkpoint(run_dir):
    path, _ = run_dir
    run = load_run(path)
    assert sample_smiles(run, 40, seed=1, batch_size=16) == sample_smiles(path, 40, 1, 16)


def test_a_worker_that_cannot_load_the_checkpoint_stops_sampling_with_its_error(run_dir):
    path, _ = run_dir
    run = load_run(path)
    (path / "checkpoint.pt").write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        list(iter_samples(run, 64, batch_size=16, jobs=2))
