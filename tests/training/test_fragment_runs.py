"""A fragment run end to end: train, resume, sample, export, ship, ``molgen sample``."""

import pytest
import torch
from typer.testing import CliRunner

import molgen.training.run as run_module
from molgen.chem import FragmentVocabulary, check_smiles
from molgen.cli import app
from molgen.config import load_config
from molgen.models.fragments import FragmentGenerator
from molgen.training import train
from molgen.training.run import export_generator, load_run

CONFIG = "configs/debug_fragments.yaml"


@pytest.fixture(scope="module")
def fragment_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fragment_run")
    overrides = [f"data.cache_dir={root / 'cache'}", "logging.wandb.mode=disabled"]
    overrides += ["train.steps=4", "train.eval_every=2", "train.checkpoint_every=2"]
    metrics = train(load_config(CONFIG, overrides), root / "run", progress=False)
    return root / "run", overrides, metrics


def test_training_evaluates_fragment_samples_as_valid_molecules(fragment_run):
    _, _, metrics = fragment_run
    assert metrics["validity"] == 1.0  # strict: one molecule each, by construction
    assert metrics["validity_relaxed"] == 1.0


def test_a_fragment_run_samples_molecules_with_its_vocabulary(fragment_run, samples):
    run_dir, _, _ = fragment_run
    run = load_run(run_dir)
    assert isinstance(run.vocab, FragmentVocabulary)
    assert isinstance(run.generator, FragmentGenerator)
    smiles = samples(run_dir, 300, seed=3, batch_size=128)
    assert all(s is not None and "." not in s for s in smiles)
    assert all(check_smiles(s).valid for s in smiles[:50])
    assert smiles == samples(run_dir, 300, seed=3, batch_size=128, jobs=2)


def test_a_fragment_run_resumes_to_the_same_weights(fragment_run, tmp_path):
    _, overrides, _ = fragment_run
    cache = [o for o in overrides if o.startswith("data.cache_dir")]
    base = [*cache, "logging.wandb.mode=disabled", "train.eval_every=100"]
    train(load_config(CONFIG, [*base, "train.steps=4"]), tmp_path / "whole", progress=False)
    train(load_config(CONFIG, [*base, "train.steps=2"]), tmp_path / "half", progress=False)
    train(
        load_config(CONFIG, [*base, "train.steps=4"]),
        tmp_path / "half",
        resume=True,
        progress=False,
    )
    whole = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)["generator"]
    half = torch.load(tmp_path / "half" / "checkpoint.pt", weights_only=True)["generator"]
    assert whole.keys() == half.keys()
    assert all(torch.equal(whole[k], half[k]) for k in whole)


def test_an_exported_fragment_generator_ships_and_molgen_sample_decodes_it(
    fragment_run, tmp_path, monkeypatch
):
    run_dir, _, _ = fragment_run
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    export_generator(run_dir, shipped / "tinyfrag.pt")
    monkeypatch.setattr(run_module, "PRETRAINED_DIR", shipped)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["sample", "tinyfrag", "-n", "64", "-o", "out.smi"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "out.smi").read_text().splitlines()
    assert len(lines) == 64
    assert all(line and check_smiles(line).valid for line in lines)
