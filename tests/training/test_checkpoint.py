"""Unreadable checkpoints: every kind of damage gives one line naming the file and the problem,
and never touches the output of the command that read it."""

import dataclasses
import io
import os
import zipfile

import pytest
import torch
from typer.testing import CliRunner

import molgen
import molgen.training.checkpoint as checkpoint_module
from molgen.chem import Vocabulary
from molgen.cli import app
from molgen.config import load_config
from molgen.models import Generator
from molgen.training import CheckpointError, load_checkpoint, load_run, save_checkpoint

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


def _without_entry(blob: bytes, suffix: str) -> bytes:
    source, out = zipfile.ZipFile(io.BytesIO(blob)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            if not item.filename.endswith(suffix):
                target.writestr(item, source.read(item))
    return out.getvalue()


def _edited(edit) -> bytes:
    state = {"format": checkpoint_module.FORMAT, "molgen_version": molgen.__version__, **_state()}
    edit(state)
    return _torch_bytes(state)


def _reshape(state):
    state["generator"]["atom_head.bias"] = torch.zeros(3)


def _retype(state):
    state["generator"]["atom_head.bias"] = state["generator"]["atom_head.bias"].long()


def _drop_tensor(state):
    del state["generator"]["atom_head.bias"]


GOOD = _torch_bytes(
    {"format": checkpoint_module.FORMAT, "molgen_version": molgen.__version__, **_state()}
)

# kind -> (bytes of checkpoint.pt, or a callable making the path; what the message says)
CORRUPTIONS = {
    "truncated_head": (GOOD[:10], "not a readable checkpoint"),
    "truncated_half": (GOOD[: len(GOOD) // 2], "not a readable checkpoint"),
    "truncated_tail": (GOOD[:-100], "not a readable checkpoint"),
    "zero_bytes": (b"", "the file is empty"),
    "random_bytes": (bytes(range(256)) * 8, "not a readable checkpoint"),
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
    "unpickling_needed": (None, "molgen never unpickles"),
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
        torch.save({"format": checkpoint_module.FORMAT, "x": _Payload(str(marker))}, path)
    elif kind == "a_directory":
        path = run_dir
    elif kind == "missing_file":
        path = tmp_path / "nowhere" / "checkpoint.pt"
    elif kind == "permission_denied":  # tests run as root, whom chmod does not stop
        path.write_bytes(GOOD)

        def denied(file, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(file))

        monkeypatch.setattr(checkpoint_module, "open", denied, raising=False)
    out = tmp_path / "samples.smi"
    out.write_text(OLD)
    result = runner.invoke(app, ["sample", str(path), "-n", "4", "-o", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert str(path) in lines[0] and expected in lines[0], lines[0]
    assert out.read_text() == OLD  # nothing written before the checkpoint was read
    assert not marker.exists()  # the pickle never ran


def test_errors_about_contents_name_the_version_that_wrote_the_file(tmp_path):
    state = _state()
    _reshape(state)
    save_checkpoint(state, tmp_path / "checkpoint.pt")
    assert load_checkpoint(tmp_path)["molgen_version"] == molgen.__version__
    with pytest.raises(CheckpointError, match=f"written by molgen {molgen.__version__}"):
        load_run(tmp_path)
    old = {"format": checkpoint_module.FORMAT, **state}  # no molgen_version: before 0.1.0
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
        "molgen.training.sampling.load_run",
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
