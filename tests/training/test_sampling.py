import hashlib
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import molgen.training.sampling as sampling
from molgen.chem import Vocabulary
from molgen.cli import app
from molgen.config import load_config
from molgen.models import Generator
from molgen.training import CheckpointError, load_checkpoint, save_checkpoint
from molgen.training.checkpoint import GENERATOR_FORMAT
from molgen.training.sampling import (
    export_generator,
    generate_smiles,
    iter_samples,
    load_run,
    resolve_checkpoint,
    sample_smiles,
    shipped_generators,
)

runner = CliRunner()

TRAIN = ["CCO", "CCN", "C1CC1"]


def save_untrained_run(folder, overrides=()):
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
def run_dir(tmp_path):
    generator = save_untrained_run(tmp_path)
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


def test_a_checkpoint_records_its_training_set_by_checksum_and_load_run_reads_train_smi(
    ema_run, tmp_path
):
    state = load_checkpoint(ema_run)
    train_file = ema_run / "train.smi"
    lines = train_file.read_text().splitlines()
    assert "train_smiles" not in state  # the molecules are in train.smi, not in every checkpoint
    assert state["train_set"] == {
        "count": len(lines),
        "sha256": hashlib.sha256(train_file.read_bytes()).hexdigest(),
    }
    assert load_run(ema_run).train_smiles == lines and len(lines) > 1
    assert load_run(ema_run, train_smiles=False).train_smiles == []
    # a run folder copied whole round-trips
    copy = tmp_path / "copy"
    shutil.copytree(ema_run, copy)
    assert load_run(copy / "checkpoint.pt").train_smiles == lines


@pytest.mark.parametrize("damage", ["missing", "another set", "edited"])
def test_a_missing_or_foreign_train_smi_is_a_one_line_error_naming_it(ema_run, tmp_path, damage):
    run = tmp_path / "run"
    shutil.copytree(ema_run, run)
    train_file = run / "train.smi"
    lines = train_file.read_text().splitlines()
    if damage == "missing":
        train_file.unlink()
    elif damage == "another set":  # e.g. the held-out split copied over it
        shutil.copy(run / "val.smi", train_file)
    else:  # the same count, one molecule changed
        train_file.write_text("\n".join(["CCO", *lines[1:]]) + "\n")
    message = "is missing" if damage == "missing" else "does not hold the training molecules"
    with pytest.raises(CheckpointError, match=message):
        load_run(run)
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["evaluate", str(run), "-n", "8", "-o", str(out)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {train_file} ") and message in lines[0]
    # sampling needs no training molecules
    result = runner.invoke(app, ["sample", str(run), "-n", "4", "-o", str(tmp_path / "s.smi")])
    assert result.exit_code == 0, result.output


def test_a_pairwise_bond_head_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    generator = save_untrained_run(tmp_path, ["generator.bond_head=pairwise"])
    assert "bond_head.atom_embedding" in generator.state_dict()
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


@pytest.fixture(scope="module")
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


def test_an_exported_generator_samples_its_runs_averaged_weights_and_nothing_else(
    ema_run, tmp_path
):
    exported = tmp_path / "gen.pt"
    result = runner.invoke(app, ["export", str(ema_run), "-o", str(exported)])
    assert result.exit_code == 0, result.output
    state = load_checkpoint(ema_run)
    saved = torch.load(exported, weights_only=True)
    assert set(saved) == {"format", "molgen_version", "generator", "vocab", "config", "tau"} | {
        "provenance"
    }  # no critic, optimisers, RNG states or training molecules
    assert saved["format"] == GENERATOR_FORMAT and saved["tau"] == state["tau"]
    assert saved["provenance"] == {
        "source": str(ema_run / "checkpoint.pt"),
        "step": 3,
        "weights": "generator_ema",
    }
    assert saved["config"] == state["config"] and saved["vocab"] == state["vocab"]
    assert not any(  # the averaged weights are stored as the generator's, the raw ones not at all
        torch.equal(saved["generator"][k], state["generator"][k])
        for k, v in state["generator"].items()
        if v.is_floating_point()
    )
    for key, value in state["generator_ema"].items():
        assert torch.equal(saved["generator"][key], value)
    assert exported.stat().st_size < (ema_run / "checkpoint.pt").stat().st_size / 3
    run = load_run(exported)
    assert run.train_smiles == [] and run.checkpoint == exported
    samples = sample_smiles(exported, 40, seed=3, batch_size=16)
    assert samples == sample_smiles(ema_run, 40, seed=3, batch_size=16)
    assert all(samples)  # molecules, not failures, are compared
    # an exported generator is not a checkpoint to continue from
    with pytest.raises(CheckpointError, match="exported for sampling .* not trained further"):
        load_checkpoint(exported)


def test_export_stores_the_sampling_temperatures_given(ema_run, tmp_path):
    exported = tmp_path / "gen.pt"
    args = ["export", str(ema_run), "-o", str(exported)]
    temperatures = ["--sample-atoms-temperature", "2.0", "--sample-bonds-temperature", "0.5"]
    result = runner.invoke(app, args + temperatures)
    assert result.exit_code == 0, result.output
    run, source = load_run(exported), load_run(ema_run)
    assert run.config.generator.sample_temperature.model_dump() == {"atoms": 2.0, "bonds": 0.5}
    assert run.generator.sample_temperature == (2.0, 0.5)
    drawn = generate_smiles(
        source.generator, source.vocab, 48, seed=1, sample_temperature=(2.0, 0.5)
    )
    assert sample_smiles(run, 48, seed=1) == [s for batch in drawn for s in batch]
    assert sample_smiles(run, 48, seed=1) != sample_smiles(source, 48, seed=1)
    # an exported generator re-exported with other temperatures keeps its provenance
    again = export_generator(exported, tmp_path / "again.pt", sample_temperature=(1.0, 1.0))
    assert load_run(again).generator.sample_temperature == (1.0, 1.0)
    assert torch.load(again, weights_only=True)["provenance"]["source"] == str(
        ema_run / "checkpoint.pt"
    )
    # one temperature alone, one not positive, or a folder to write to: refused, nothing written
    for wrong, message in [
        (temperatures[:2], "together"),
        (temperatures[:3] + ["0"], "positive and finite, got atoms=2.0, bonds=0.0"),
        (["-o", str(tmp_path)], f"{tmp_path} is a folder"),
    ]:
        result = runner.invoke(app, ["export", str(ema_run), "-o", str(tmp_path / "x.pt"), *wrong])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda blob: blob[: len(blob) // 2], "not a readable checkpoint"),
        (lambda blob: b"", "the file is empty"),
    ],
)
def test_sampling_a_damaged_exported_generator_is_a_one_line_error(
    ema_run, tmp_path, damage, message
):
    exported = export_generator(ema_run, tmp_path / "gen.pt")
    exported.write_bytes(damage(exported.read_bytes()))
    result = runner.invoke(app, ["sample", str(exported), "-n", "4", "-o", str(tmp_path / "s")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {exported}: ") and message in lines[0]


def test_an_exported_generator_missing_its_weights_names_the_file_and_entry(ema_run, tmp_path):
    exported = export_generator(ema_run, tmp_path / "gen.pt")
    state = torch.load(exported, weights_only=True)
    del state["generator"]
    torch.save(state, exported)
    with pytest.raises(CheckpointError, match=f"{exported}: no 'generator' entry"):
        load_run(exported)


def test_a_checkpoint_argument_is_an_existing_path_first_then_a_shipped_name(
    ema_run, tmp_path, monkeypatch
):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    export_generator(ema_run, shipped / "tiny.pt")
    (shipped / "README.md").write_text("not a generator\n")
    monkeypatch.setattr(sampling, "PRETRAINED_DIR", shipped)
    monkeypatch.chdir(tmp_path)
    assert shipped_generators() == ["tiny"]
    assert resolve_checkpoint("tiny") == shipped / "tiny.pt"
    assert load_run("tiny").checkpoint == shipped / "tiny.pt"
    Path("tiny").mkdir()  # a folder of that name wins over the shipped generator
    assert resolve_checkpoint("tiny") == Path("tiny")
    with pytest.raises(CheckpointError, match="tiny: a folder without checkpoint.pt"):
        load_run("tiny")
    with pytest.raises(CheckpointError, match=r"no checkpoint at tinyy: .*\(shipped: tiny\)"):
        load_run("tinyy")


def test_molgen_ships_the_qm9_generator():
    assert "qm9" in shipped_generators()
    assert resolve_checkpoint("qm9").is_file()
