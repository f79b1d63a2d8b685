"""Runs to read and sample: an untrained generator's checkpoint, and a tiny trained run."""

import itertools

import pytest

from molgen.chem import Vocabulary
from molgen.config import load_config
from molgen.models import Generator
from molgen.training import iter_samples, save_checkpoint

TRAIN = ["CCO", "CCN", "C1CC1"]


def _save_untrained_run(folder, overrides=()):
    """A checkpoint of a fresh debug generator in ``folder``; returns the generator."""
    cfg = load_config("configs/debug.yaml", list(overrides))
    vocab = Vocabulary(("C", "N", "O"), max_atoms=6)
    generator = Generator(cfg.generator, vocab.max_atoms, vocab.num_atom_types, 4)
    state = {
        "config": cfg.model_dump(mode="json"),
        "vocab": vocab.to_dict(),
        "generator": generator.state_dict(),
        "tau": 0.5,
        # An older molgen's checkpoint: its own copy; train.smi is what the run wrote.
        "train_smiles": ["C"],
    }
    save_checkpoint(state, folder / "checkpoint.pt")
    return generator


@pytest.fixture
def save_untrained_run():
    """``save_untrained_run(folder, overrides=())``: a fresh debug generator's checkpoint."""
    return _save_untrained_run


@pytest.fixture
def run_dir(tmp_path):
    """An untrained run's folder (its ``train.smi`` holds ``TRAIN``) and generator."""
    generator = _save_untrained_run(tmp_path)
    (tmp_path / "train.smi").write_text("\n".join(TRAIN) + "\n")
    return tmp_path, generator


@pytest.fixture(scope="session")
def ema_run(tmp_path_factory):
    """A tiny trained run whose averaged weights differ from its raw ones (decay 0.5); its
    sampler keeps valences and connects, so its samples are SMILES to compare."""
    from molgen.training import train

    root = tmp_path_factory.mktemp("ema_run")
    overrides = [f"data.cache_dir={root / 'cache'}", "logging.wandb.mode=disabled"]
    overrides += ["train.steps=3", "train.eval_every=1000", "train.ema_decay=0.5"]
    overrides += ["generator.constraint=valence_connected"]
    train(load_config("configs/debug.yaml", overrides), root / "run", progress=False)
    return root / "run"


@pytest.fixture
def samples():
    """``samples(run, n, seed=0, batch_size=1024, jobs=1)``: the list ``iter_samples`` streams."""

    def all_samples(run, n, seed=0, batch_size=1024, jobs=1):
        batches = iter_samples(run, n, seed, batch_size, jobs)
        return list(itertools.chain.from_iterable(batches))

    return all_samples
