"""Sampling molecules from a generator or a checkpoint, in batches, streaming."""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from molgen.chem import Vocabulary, atom_valences, bond_orders, decode
from molgen.config import Config, GeneratorConfig
from molgen.errors import InputError
from molgen.io import check_output_path
from molgen.models import Generator
from molgen.parallel import ProcessPool, resolve_jobs
from molgen.training.checkpoint import (
    FORMAT,
    GENERATOR_FORMAT,
    CheckpointError,
    check_entries,
    find_checkpoint,
    load_checkpoint,
    load_part,
    save_checkpoint,
    written_by,
)

__all__ = [
    "TRAIN_SMILES_NAME",
    "Run",
    "build_generator",
    "export_generator",
    "generate_smiles",
    "iter_samples",
    "load_generator",
    "load_reference_smiles",
    "load_run",
    "resolve_checkpoint",
    "sample_smiles",
    "shipped_generators",
    "smiles_file_bytes",
    "training_set_record",
]


#: The training molecules of a run, one SMILES a line, beside its checkpoint.
TRAIN_SMILES_NAME = "train.smi"


def smiles_file_bytes(smiles: Sequence[str]) -> bytes:
    """One SMILES a line, each line ended by a newline: the split files of a run
    (``train.smi``, ``val.smi``, ``test.smi``) as the trainer writes them."""
    return "".join(f"{s}\n" for s in smiles).encode()


def training_set_record(smiles: Sequence[str]) -> dict[str, Any]:
    """What a training checkpoint keeps of its training molecules (its ``"train_set"``): their
    ``count`` and the ``sha256`` of :func:`smiles_file_bytes`, i.e. of the run's ``train.smi``,
    which holds the molecules themselves (MOSES' 1.4M would add ~80 MB to every checkpoint)."""
    return {"count": len(smiles), "sha256": hashlib.sha256(smiles_file_bytes(smiles)).hexdigest()}


def _training_smiles(state: dict[str, Any], checkpoint: Path) -> list[str]:
    """The training molecules of a training checkpoint: ``train.smi`` beside it, checked against
    the checkpoint's ``"train_set"`` record; a checkpoint written before that record holds its
    own list (``"train_smiles"``), used when ``train.smi`` is absent."""
    train_file = checkpoint.parent / TRAIN_SMILES_NAME
    if "train_set" not in state:  # the list itself, as molgen wrote it before the record
        if train_file.is_file():
            return train_file.read_text().splitlines()
        check_entries(state, {"train_smiles": list}, checkpoint)
        return list(state["train_smiles"])
    check_entries(state, {"train_set": dict}, checkpoint)
    record = state["train_set"]
    if not train_file.is_file():
        raise CheckpointError(
            f"{train_file} is missing: {checkpoint} records its {record.get('count')} training "
            f"molecules by checksum only; put the run's {TRAIN_SMILES_NAME} beside it"
        )
    content = train_file.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != record.get("sha256"):
        n_lines = content.count(b"\n")
        raise CheckpointError(
            f"{train_file} does not hold the training molecules of {checkpoint}: "
            f"{n_lines} lines with SHA-256 {digest[:16]}, the checkpoint records "
            f"{record.get('count')} with {str(record.get('sha256'))[:16]} (replaced or edited?)"
        )
    return content.decode().splitlines()


#: The generators shipped with molgen, ``NAME.pt`` (exported, :func:`export_generator`).
PRETRAINED_DIR = importlib.resources.files("molgen") / "pretrained"

#: The files sampling reads: training checkpoints and exported generators.
SAMPLING_FORMATS = (FORMAT, GENERATOR_FORMAT)


def _batch_seed(seed: int, index: int) -> int:
    # Each batch has its own seed, so a batch's molecules do not depend on which process
    # draws it or on how many batches came before: parallel sampling equals serial sampling.
    return (seed * 1_000_003 + index) % (2**63)


def build_generator(cfg: GeneratorConfig, vocab: Vocabulary) -> Generator:
    """The generator of ``cfg`` for ``vocab``'s graphs, with the valence budgets and bond
    orders of its classes (used by ``generator.constraint``; the model itself has no RDKit)."""
    return Generator(
        cfg,
        vocab.max_atoms,
        vocab.num_atom_types,
        vocab.num_bond_types,
        atom_valences=atom_valences(vocab),
        bond_orders=bond_orders(vocab),
    )


def _draw(
    generator: Generator,
    n: int,
    *,
    seed: int,
    batch_size: int,
    batches: Iterable[int] | None,
    sample_temperature: tuple[float, float] | None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Atom classes ``[b, N]`` and bond classes ``[b, N, N]`` of each batch, in eval mode.

    Batch ``i`` draws from its own RNG seeded by ``(seed, i)``, so any sampler with the
    generator's interface (``sample_noise``, ``sample_temperature``, ``forward``) draws from
    the same noise. No ``tau``: the argmax of a sample does not depend on it.
    """
    device = next(generator.parameters()).device
    temperature = generator.sample_temperature if sample_temperature is None else sample_temperature
    rng = torch.Generator(device)
    was_training = generator.training
    generator.eval()
    try:
        for index in range(math.ceil(n / batch_size)) if batches is None else batches:
            b = min(batch_size, n - index * batch_size)
            rng.manual_seed(_batch_seed(seed, index))
            z = generator.sample_noise(b, generator=rng, device=device)
            x, adj = generator(
                z, generator=rng, sample_temperature=temperature
            )  # [b, N, A], [b, N, N, R] one-hot
            yield x.argmax(-1).cpu(), adj.argmax(-1).cpu()
    finally:
        generator.train(was_training)


@torch.no_grad()
def generate_smiles(
    generator: Generator,
    vocab: Vocabulary,
    n: int,
    *,
    seed: int,
    batch_size: int = 1024,
    batches: Iterable[int] | None = None,
    sample_temperature: tuple[float, float] | None = None,
) -> Iterator[list[str | None]]:
    """Yield canonical SMILES in batches (``None`` where a graph does not sanitize).

    Fragments are kept (relaxed decoding, ``a.b``) so strict and relaxed validity can both be
    measured downstream. Batch ``i`` (of ``ceil(n / batch_size)``) draws from its own RNG seeded
    by ``(seed, i)``: sampling never disturbs training randomness, the same seed gives the same
    molecules, and ``batches`` (a subset of batch indices) lets processes share the work.
    ``sample_temperature`` ``(atoms, bonds)`` defaults to the generator's configured one.
    """
    for x, adj in _draw(
        generator,
        n,
        seed=seed,
        batch_size=batch_size,
        batches=batches,
        sample_temperature=sample_temperature,
    ):
        yield decode(x, adj, vocab, strict=False)


@dataclass(frozen=True)
class Run:
    """A finished or interrupted training run, read once by :func:`load_run`: its checkpoint's
    path, the generator (in eval use, on the device it was loaded to) with its vocabulary, the
    temperature reached in training and the run's config, and its training molecules (none for
    an exported generator, which does not carry them)."""

    checkpoint: Path
    generator: Generator
    vocab: Vocabulary
    tau: float
    config: Config
    train_smiles: list[str]


#: What sampling reads from a checkpoint, and the types it must have.
SAMPLING_ENTRIES = {"config": dict, "vocab": dict, "generator": dict, "tau": (float, int)}


def _generator_of(
    state: dict[str, Any], device: str, path: Path
) -> tuple[Generator, Vocabulary, float, Config]:
    check_entries(state, SAMPLING_ENTRIES, path)
    try:
        cfg = Config.model_validate(state["config"])
        vocab = Vocabulary.from_dict(state["vocab"])
    except (ValueError, TypeError, KeyError) as exc:  # pydantic's errors are ValueErrors
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointError(
            f"{path}: its config or vocabulary does not fit this molgen ({written_by(state)}): "
            f"{detail}"
        ) from exc
    generator = build_generator(cfg.generator, vocab).to(device)
    # The averaged weights (train.ema_decay) are the ones to sample, when the run has them.
    averaged = state.get("generator_ema") is not None
    load_part(generator, state, "generator_ema" if averaged else "generator", path)
    return generator, vocab, float(state["tau"]), cfg


def shipped_generators() -> list[str]:
    """The names of the generators shipped with molgen (``molgen/pretrained/NAME.pt``)."""
    return sorted(
        entry.name.removesuffix(".pt")
        for entry in PRETRAINED_DIR.iterdir()
        if entry.name.endswith(".pt")
    )


def resolve_checkpoint(source: str | Path) -> Path:
    """The file or folder a checkpoint argument names: an existing path (a run directory, a
    checkpoint or an exported generator) wins; otherwise the name of a shipped generator
    (:func:`shipped_generators`, e.g. ``qm9``); otherwise :class:`CheckpointError` listing
    the shipped names."""
    if Path(source).exists():
        return Path(source)
    shipped = shipped_generators()
    if str(source) in shipped:
        return Path(str(PRETRAINED_DIR / f"{source}.pt"))
    raise CheckpointError(
        f"no checkpoint at {source}: no such file or folder, nor a generator shipped with "
        f"molgen (shipped: {', '.join(shipped) or 'none'})"
    )


def load_run(path: str | Path, device: str = "cpu", *, train_smiles: bool = True) -> Run:
    """Read a run directory, its checkpoint file, an exported generator
    (:func:`export_generator`) or a shipped generator's name (:func:`resolve_checkpoint`)
    once: the checkpoint for the generator, vocabulary, temperature and config; ``train.smi``
    beside a training checkpoint for the training molecules, which must match the checksum
    the checkpoint records (a checkpoint of an older molgen holds its own copy, used when that
    file is absent). An exported generator has no training molecules: its ``train_smiles`` is
    empty, as it is with ``train_smiles=False``, for sampling, which needs none.

    Raises :class:`~molgen.training.checkpoint.CheckpointError` naming the path when there is
    no readable checkpoint, and naming ``train.smi`` when it is missing or is not the
    checkpoint's training set."""
    checkpoint = find_checkpoint(resolve_checkpoint(path))
    state = load_checkpoint(checkpoint, map_location=device, formats=SAMPLING_FORMATS)
    generator, vocab, tau, cfg = _generator_of(state, device, checkpoint)
    molecules = []
    if train_smiles and state["format"] != GENERATOR_FORMAT:
        molecules = _training_smiles(state, checkpoint)
    return Run(checkpoint, generator, vocab, tau, cfg, molecules)


def export_generator(
    run_path: str | Path,
    output: str | Path,
    sample_temperature: tuple[float, float] | None = None,
) -> Path:
    """Write the generator of a run (a run directory or checkpoint, or an exported generator)
    to ``output`` for sampling only (:data:`~molgen.training.checkpoint.GENERATOR_FORMAT`,
    written atomically): its weights, vocabulary, config, ``tau``, the molgen version and
    ``provenance`` (the source checkpoint, its step, and which weights were taken). The
    averaged weights (``generator_ema``) are stored as the generator's when the run has them,
    so only they can be sampled. No critic, optimisers, RNG states or training molecules.

    ``sample_temperature`` ``(atoms, bonds)`` replaces ``generator.sample_temperature`` in the
    exported config (the temperatures chosen on the validation split)."""
    output = check_output_path(output)
    checkpoint = find_checkpoint(run_path)
    state = load_checkpoint(checkpoint, formats=SAMPLING_FORMATS)
    generator, vocab, tau, cfg = _generator_of(state, "cpu", checkpoint)  # checks every entry
    config = cfg.model_dump(mode="json")
    if sample_temperature is not None:
        atoms, bonds = sample_temperature
        if not (math.isfinite(atoms) and math.isfinite(bonds) and atoms > 0 and bonds > 0):
            raise InputError(
                f"sample temperatures must be positive and finite, got atoms={atoms}, bonds={bonds}"
            )
        config["generator"]["sample_temperature"] = {"atoms": atoms, "bonds": bonds}
    if state["format"] == GENERATOR_FORMAT:
        check_entries(state, {"provenance": dict}, checkpoint)
        provenance = state["provenance"]
    else:
        check_entries(state, {"step": int}, checkpoint)
        weights = "generator_ema" if state.get("generator_ema") is not None else "generator"
        provenance = {"source": str(checkpoint), "step": state["step"], "weights": weights}
    exported = {
        "config": config,
        "vocab": vocab.to_dict(),
        "generator": generator.state_dict(),
        "tau": tau,
        "provenance": provenance,
    }
    return save_checkpoint(exported, output, file_format=GENERATOR_FORMAT)


def load_generator(
    checkpoint: str | Path, device: str = "cpu"
) -> tuple[Generator, Vocabulary, float, Config]:
    """Rebuild the generator of a checkpoint (or exported or shipped generator,
    :func:`load_run`); returns it with its vocabulary, the temperature reached in training, and
    the run's config."""
    checkpoint = find_checkpoint(resolve_checkpoint(checkpoint))
    state = load_checkpoint(checkpoint, map_location=device, formats=SAMPLING_FORMATS)
    return _generator_of(state, device, checkpoint)


def sample_smiles(
    run: Run | str | Path, n: int, seed: int = 0, batch_size: int = 1024, jobs: int = 1
) -> list[str | None]:
    """``n`` samples from a run (or its checkpoint) as canonical SMILES (``None`` for invalid
    graphs)."""
    return [s for batch in iter_samples(run, n, seed, batch_size, jobs) for s in batch]


def iter_samples(
    run: Run | str | Path, n: int, seed: int = 0, batch_size: int = 1024, jobs: int = 1
) -> Iterator[list[str | None]]:
    """Stream batches of samples from a run (or its checkpoint), in order, on ``jobs``
    processes (:func:`molgen.parallel.resolve_jobs`: 1 here, -1 every core).

    The result is identical for any ``jobs`` (per-batch seeds). At most ``2 * jobs`` batches
    are in flight, so memory stays bounded however large ``n`` is. Each worker loads the
    generator from the checkpoint once.
    """
    if not isinstance(run, Run):
        run = load_run(run, train_smiles=False)
    if resolve_jobs(jobs) == 1:
        yield from generate_smiles(run.generator, run.vocab, n, seed=seed, batch_size=batch_size)
        return
    checkpoint = str(run.checkpoint)
    sample = functools.partial(_sample_batch, checkpoint, n=n, seed=seed, batch_size=batch_size)
    with ProcessPool(jobs, initializer=_worker_generator, initargs=(checkpoint,)) as pool:
        yield from pool.imap(sample, range(math.ceil(n / batch_size)))


@functools.cache
def _worker_generator(checkpoint: str) -> tuple[Generator, Vocabulary, float, Config]:
    return load_generator(checkpoint)  # once per worker: the pool's initializer warms it


def _sample_batch(
    checkpoint: str, index: int, *, n: int, seed: int, batch_size: int
) -> list[str | None]:
    generator, vocab, _, _ = _worker_generator(checkpoint)
    batches = generate_smiles(
        generator, vocab, n, seed=seed, batch_size=batch_size, batches=[index]
    )
    return next(batches)


def load_reference_smiles(checkpoint: str | Path) -> list[str]:
    """The training molecules of a checkpoint's run (its ``train.smi``)."""
    return load_run(checkpoint).train_smiles
