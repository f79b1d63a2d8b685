"""Run folders and their checkpoints: reading a run (its generator, its training molecules),
exporting and shipping generators, the checkpoint's schema, and unreadable checkpoints, where
every kind of damage gives one line naming the file and the problem and never touches the output
of the command that read it."""

import dataclasses
import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import molgen
import molgen.training.run as run_module
from molgen.chem import Vocabulary
from molgen.cli import app
from molgen.config import load_config
from molgen.models import Generator
from molgen.training import CheckpointError, load_checkpoint, load_run, save_checkpoint
from molgen.training.run import (
    GENERATOR_FORMAT,
    export_generator,
    is_checkpoint,
    resolve_checkpoint,
    shipped_generators,
)
from molgen.training.sampling import generate_smiles

runner = CliRunner()
OLD = "old samples\n"


class _Payload:
    """A pickle that would write a file when unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _state() -> dict:
    cfg = load_config("configs/debug.yaml")
    vocab = Vocabulary(("C", "N", "O"), max_atoms=6)
    generator = Generator(cfg.generator, vocab.max_atoms, vocab.num_atom_types, 4)
    return {
        "config": cfg.model_dump(mode="json"),
        "vocab": vocab.to_dict(),
        "generator": generator.state_dict(),
        "tau": 0.5,
        "train_smiles": ["C"],
    }


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _rezipped(blob: bytes, edit) -> bytes:
    """``blob``'s archive written again (with fresh checksums), each part's bytes through
    ``edit(name, data)``, which returns ``None`` to leave the part out."""
    source, out = zipfile.ZipFile(io.BytesIO(blob)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            if (data := edit(item.filename, source.read(item))) is not None:
                target.writestr(item, data)
    return out.getvalue()


def _without_entry(blob: bytes, suffix: str) -> bytes:
    return _rezipped(blob, lambda name, data: None if name.endswith(suffix) else data)


def _renamed_global(blob: bytes, old: bytes, new: bytes) -> bytes:
    """A pickle naming ``new`` where torch wrote ``old``, in an archive with valid checksums."""
    return _rezipped(
        blob, lambda name, data: data.replace(old, new) if name.endswith("data.pkl") else data
    )


def _bit_flipped(blob: bytes, suffix: str) -> bytes:
    """``blob`` with one bit flipped in the middle of the stored bytes of the part ``suffix``."""
    info = next(
        i for i in zipfile.ZipFile(io.BytesIO(blob)).infolist() if i.filename.endswith(suffix)
    )
    header = info.header_offset  # the local header: 30 bytes, then its name and extra field
    name_length = int.from_bytes(blob[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(blob[header + 28 : header + 30], "little")
    flipped = bytearray(blob)
    flipped[header + 30 + name_length + extra_length + info.file_size // 2] ^= 0x10
    return bytes(flipped)


def _edited(edit) -> bytes:
    state = {"format": run_module.FORMAT, "molgen_version": molgen.__version__, **_state()}
    edit(state)
    return _torch_bytes(state)


def _reshape(state):
    state["generator"]["atom_head.bias"] = torch.zeros(3)


def _retype(state):
    state["generator"]["atom_head.bias"] = state["generator"]["atom_head.bias"].long()


def _drop_tensor(state):
    del state["generator"]["atom_head.bias"]


def _poison(state):
    state["generator"]["atom_head.bias"][1] = float("nan")


GOOD = _torch_bytes({"format": run_module.FORMAT, "molgen_version": molgen.__version__, **_state()})

# kind -> (bytes of checkpoint.pt, or a callable making the path; what the message says)
CORRUPTIONS = {
    "truncated_head": (GOOD[:10], "not a readable checkpoint"),
    "truncated_half": (GOOD[: len(GOOD) // 2], "not a readable checkpoint"),
    "truncated_tail": (GOOD[:-100], "not a readable checkpoint"),
    "zero_bytes": (b"", "the file is empty"),
    "random_bytes": (
        bytes(range(256)) * 8,
        "not a readable checkpoint (damaged, or not a file torch.save wrote: Unsupported operand",
    ),
    "bit_flip_in_weights": (_bit_flipped(GOOD, "data/0"), "does not match the checksum"),
    "bit_flip_in_pickle": (_bit_flipped(GOOD, "data.pkl"), "does not match the checksum"),
    "misnamed_global": (
        _renamed_global(GOOD, b"torch._utils", b"torch._utilz"),
        "damaged: it names torch._utilz._rebuild_tensor_v2, which does not exist",
    ),
    "non_finite_weights": (
        _edited(_poison),
        "entry generator.atom_head.bias holds NaN or infinite values (written by molgen",
    ),
    "zip_missing_entry": (_without_entry(GOOD, "data.pkl"), "not a readable checkpoint"),
    "not_a_dict": (_torch_bytes([1, 2, 3]), "it holds a list, not a dict"),
    "no_format": (_torch_bytes(_state()), "not a molgen checkpoint"),
    "future_version": (
        _edited(lambda s: s.update(format="molgen.checkpoint/2", molgen_version="9.0")),
        "format 'molgen.checkpoint/2' (written by molgen 9.0)",
    ),
    "missing_key": (_edited(lambda s: s.pop("generator")), "no 'generator' entry"),
    "wrong_entry_type": (_edited(lambda s: s.update(tau="hot")), "entry 'tau' is a str"),
    "missing_tensor": (_edited(_drop_tensor), "lacks generator.atom_head.bias"),
    "wrong_shape": (_edited(_reshape), "generator.atom_head.bias has shape (3,) where"),
    "wrong_dtype": (_edited(_retype), "generator.atom_head.bias has dtype torch.int64"),
    "bad_config": (
        _edited(lambda s: s["config"].update(bogus=1)),
        "its config or vocabulary does not fit this molgen",
    ),
    "unpickling_needed": (None, "a Python object, io.open, that only unpickling could build"),
    "a_directory": (None, "a folder without checkpoint.pt"),
    "missing_file": (None, "no checkpoint at"),
    "permission_denied": (None, "Permission denied"),
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_sample_on_a_damaged_checkpoint_says_what_and_keeps_the_output(tmp_path, kind, monkeypatch):
    blob, expected = CORRUPTIONS[kind]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = run_dir / "checkpoint.pt"
    marker = tmp_path / "unpickled"
    if blob is not None:
        path.write_bytes(blob)
    elif kind == "unpickling_needed":
        torch.save({"format": run_module.FORMAT, "x": _Payload(str(marker))}, path)
    elif kind == "a_directory":
        path = run_dir
    elif kind == "missing_file":
        path = tmp_path / "nowhere" / "checkpoint.pt"
    elif kind == "permission_denied":  # tests run as root, whom chmod does not stop
        path.write_bytes(GOOD)

        def denied(file, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(file))

        monkeypatch.setattr(run_module, "open", denied, raising=False)
    out = tmp_path / "samples.smi"
    out.write_text(OLD)
    result = runner.invoke(app, ["sample", str(path), "-n", "4", "-o", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert str(path) in lines[0] and expected in lines[0], lines[0]
    assert ("Python object" in lines[0]) == (kind == "unpickling_needed"), lines[0]
    assert out.read_text() == OLD  # nothing written before the checkpoint was read
    assert not marker.exists()  # the pickle never ran


def test_errors_about_contents_name_the_version_that_wrote_the_file(tmp_path):
    state = _state()
    _reshape(state)
    save_checkpoint(state, tmp_path / "checkpoint.pt")
    assert load_checkpoint(tmp_path)["molgen_version"] == molgen.__version__
    with pytest.raises(CheckpointError, match=f"written by molgen {molgen.__version__}"):
        load_run(tmp_path)
    old = {"format": run_module.FORMAT, **state}  # no molgen_version: before 0.1.0
    (tmp_path / "checkpoint.pt").write_bytes(_torch_bytes(old))
    with pytest.raises(CheckpointError, match="did not record its version"):
        load_run(tmp_path)


def test_a_non_finite_checkpoint_is_never_written(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(_state(), path)
    state = _state()
    state["generator"]["atom_head.weight"][0, 0] = float("nan")
    with pytest.raises(CheckpointError, match=r"generator\.atom_head\.weight holds NaN"):
        save_checkpoint(state, path)
    assert all(torch.isfinite(v).all() for v in load_checkpoint(path)["generator"].values())


def test_sample_with_a_failing_worker_initializer_stops_with_its_error(tmp_path, monkeypatch):
    save_checkpoint(_state(), tmp_path / "checkpoint.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"truncated")
    run = load_run(tmp_path)
    # the command reads a good checkpoint; its workers get one they cannot read
    monkeypatch.setattr(
        "molgen.training.run.load_run",
        lambda *a, **k: dataclasses.replace(run, checkpoint=broken),
    )
    out = tmp_path / "samples.smi"
    out.write_text(OLD)
    result = runner.invoke(
        app, ["sample", str(tmp_path), "-n", "64", "--batch-size", "8", "-j", "2", "-o", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert f"{broken}: not a readable checkpoint" in result.output
    assert out.read_text() == OLD
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary


def test_sample_output_paths(tmp_path, monkeypatch):
    save_checkpoint(_state(), tmp_path / "checkpoint.pt")
    (tmp_path / "a_file").write_text("x")
    for out, expected in [
        (tmp_path, f"{tmp_path} is a folder"),
        (tmp_path / "a_file" / "s.smi", f"{tmp_path / 'a_file'} is a file, not a folder"),
    ]:
        result = runner.invoke(app, ["sample", str(tmp_path), "-n", "4", "-o", str(out)])
        assert result.exit_code == 2 and expected in result.output, result.output
    out = tmp_path / "s.smi"
    out.write_text(OLD)

    def disk_full(src, dst):
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr("molgen.io.os.replace", disk_full)
    result = runner.invoke(app, ["sample", str(tmp_path), "-n", "4", "-o", str(out)])
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]  # after the progress bar
    assert last == f"error: cannot write {out}: No space left on device"
    assert out.read_text() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "checkpoint.pt", "s.smi"]


def test_load_run_reads_the_checkpoint_once_and_train_smi(run_dir, monkeypatch):
    path, generator = run_dir
    loads = []
    real_load = run_module.load_checkpoint
    monkeypatch.setattr(
        run_module, "load_checkpoint", lambda *a, **k: loads.append(a) or real_load(*a, **k)
    )
    run = load_run(path)
    assert len(loads) == 1
    assert run.checkpoint == path / "checkpoint.pt" and run.tau == 0.5
    assert run.train_smiles == ["CCO", "CCN", "C1CC1"] and run.vocab.atom_types == ("C", "N", "O")
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


def test_a_pairwise_bond_head_round_trips_through_a_checkpoint(tmp_path, save_untrained_run):
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


def test_an_exported_generator_samples_its_runs_averaged_weights_and_nothing_else(
    ema_run, tmp_path, samples
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
    drawn = samples(exported, 40, seed=3, batch_size=16)
    assert drawn == samples(ema_run, 40, seed=3, batch_size=16)
    assert all(drawn)  # molecules, not failures, are compared
    # an exported generator is not a checkpoint to continue from
    with pytest.raises(CheckpointError, match="exported for sampling .* not trained further"):
        load_checkpoint(exported)


def test_export_stores_the_sampling_temperatures_given(ema_run, tmp_path, samples):
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
    assert samples(run, 48, seed=1) == [s for batch in drawn for s in batch]
    assert samples(run, 48, seed=1) != samples(source, 48, seed=1)
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
    monkeypatch.setattr(run_module, "PRETRAINED_DIR", shipped)
    monkeypatch.chdir(tmp_path)
    assert shipped_generators() == ["tiny"]
    assert resolve_checkpoint("tiny") == shipped / "tiny.pt"
    assert load_run("tiny").checkpoint == shipped / "tiny.pt"
    hot = export_generator("tiny", tmp_path / "hot.pt", sample_temperature=(1.3, 1.3))
    assert load_run(hot).config.generator.sample_temperature.atoms == 1.3
    Path("tiny").mkdir()  # a folder of that name wins over the shipped generator
    assert resolve_checkpoint("tiny") == Path("tiny")
    with pytest.raises(CheckpointError, match="tiny: a folder without checkpoint.pt"):
        load_run("tiny")
    with pytest.raises(CheckpointError, match=r"no checkpoint at tinyy: .*\(shipped: tiny\)"):
        load_run("tinyy")


def test_molgen_ships_the_qm9_generator():
    assert "qm9" in shipped_generators()
    assert resolve_checkpoint("qm9").is_file()


@pytest.mark.parametrize(
    ("entry", "poison"),
    [("generator", float("nan")), ("opt_generator", float("inf"))],
)
def test_a_checkpoint_holding_a_nan_or_inf_is_refused_by_every_command_naming_file_and_entry(
    ema_run, tmp_path, entry, poison
):
    run = tmp_path / "run"
    shutil.copytree(ema_run, run)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    if entry == "generator":
        name = next(iter(state["generator"]))
        state["generator"][name].view(-1)[0] = poison
        key = f"generator.{name}"
    else:
        state["opt_generator"]["state"][0]["exp_avg"].view(-1)[0] = poison
        key = "opt_generator.state.0.exp_avg"
    torch.save(state, run / "checkpoint.pt")  # as a damaged disk might; save_checkpoint refuses
    sampled, report = tmp_path / "s.smi", tmp_path / "report.json"
    commands = {
        "sample": ["sample", str(run), "-n", "4", "-o", str(sampled)],
        "evaluate": ["evaluate", str(run), "-n", "4", "-o", str(report), "-j", "1"],
        "resume": ["train", str(run / "config.yaml"), "--resume", str(run), "--no-progress"],
    }
    expected = f"error: {run / 'checkpoint.pt'}: entry {key} holds NaN or infinite values"
    for command, args in commands.items():
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (command, result.output)
        assert result.output.startswith(expected), (command, result.output)
    assert not sampled.exists() and not report.exists()


def test_the_checkpoint_schema_is_what_the_trainer_writes_and_what_older_files_hold(ema_run):
    """The entries of molgen.checkpoint/1, as every molgen since the format began has written
    them (a checkpoint written before the run module resumes bit-identically: the format is
    unchanged) plus the best evaluation (None without train.keep_best; optional, as older files
    lack it), and as CHECKPOINT_ENTRIES states them."""
    state = load_checkpoint(ema_run)
    written = {
        "format",
        "molgen_version",
        "step",
        "tau",
        "config",
        "vocab",
        "data_info",
        "train_set",
        "generator",
        "discriminator",
        "reward",
        "opt_generator",
        "opt_discriminator",
        "opt_reward",
        "schedule",
        "generator_ema",
        "rng",
        "best",
    }
    assert set(state) == written
    assert state["best"] is None and "best" in run_module.OPTIONAL_ENTRIES
    assert set(run_module.CHECKPOINT_ENTRIES) == written - {"format", "molgen_version"}
    run_module.check_entries(state, run_module.CHECKPOINT_ENTRIES, ema_run)
    from molgen.training.state import TrainState

    assert set(TrainState.STATEFUL) <= set(run_module.CHECKPOINT_ENTRIES)


def test_is_checkpoint(tmp_path):
    (tmp_path / "run").mkdir()
    assert not is_checkpoint(tmp_path / "run")
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"")
    assert is_checkpoint(tmp_path / "run")
    assert is_checkpoint(tmp_path / "model.pt")
    assert not is_checkpoint(tmp_path / "samples.smi")


def test_a_shipped_generators_name_is_a_checkpoint_unless_a_path_has_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_checkpoint(Path("qm9")) and not is_checkpoint(Path("qm8"))
    (tmp_path / "qm9").write_text("CCO\n")  # a SMILES file of that name wins
    assert not is_checkpoint(Path("qm9"))
