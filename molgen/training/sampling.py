"""Sampling molecules from a generator or a checkpoint, in batches, streaming."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from molgen.chem import Vocabulary, decode
from molgen.config import Config
from molgen.models import Generator
from molgen.training.checkpoint import load_checkpoint

__all__ = [
    "generate_smiles",
    "load_generator",
    "load_reference_smiles",
    "resolve_device",
    "sample_smiles",
]


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU; never touches CUDA on a CPU-only machine."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device={name!r} but CUDA is not available on this machine")
    return device


@torch.no_grad()
def generate_smiles(
    generator: Generator,
    vocab: Vocabulary,
    n: int,
    *,
    tau: float,
    seed: int,
    batch_size: int = 1024,
) -> Iterator[list[str | None]]:
    """Yield canonical SMILES in batches (``None`` where a graph does not sanitize).

    Fragments are kept (relaxed decoding, ``a.b``) so strict and relaxed validity can both be
    measured downstream. Uses its own RNG seeded by ``seed``: sampling never disturbs training
    randomness, and the same seed gives the same molecules.
    """
    device = next(generator.parameters()).device
    rng = torch.Generator(device).manual_seed(seed)
    was_training = generator.training
    generator.eval()
    try:
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            z = generator.sample_noise(b, generator=rng, device=device)
            x, adj = generator(z, tau, generator=rng)  # [b, N, A], [b, N, N, R] one-hot
            yield decode(x.argmax(-1).cpu(), adj.argmax(-1).cpu(), vocab, strict=False)
    finally:
        generator.train(was_training)


def load_generator(
    checkpoint: str | Path, device: str = "cpu"
) -> tuple[Generator, Vocabulary, float, Config]:
    """Rebuild the generator of a checkpoint; returns it with its vocabulary, the temperature
    reached in training, and the run's config."""
    state = load_checkpoint(checkpoint, map_location=device)
    cfg = Config.model_validate(state["config"])
    vocab = Vocabulary.from_dict(state["vocab"])
    generator = Generator(
        cfg.generator, vocab.max_atoms, vocab.num_atom_types, vocab.num_bond_types
    ).to(device)
    generator.load_state_dict(state["generator"])
    return generator, vocab, float(state["tau"]), cfg


def sample_smiles(
    checkpoint: str | Path, n: int, seed: int = 0, batch_size: int = 1024
) -> list[str | None]:
    """``n`` samples from a checkpoint as canonical SMILES (``None`` for invalid graphs)."""
    generator, vocab, tau, _ = load_generator(checkpoint)
    return [
        s
        for batch in generate_smiles(generator, vocab, n, tau=tau, seed=seed, batch_size=batch_size)
        for s in batch
    ]


def load_reference_smiles(checkpoint: str | Path) -> list[str]:
    """The training molecules of a checkpoint's run (its ``train.smi``)."""
    state = load_checkpoint(checkpoint)
    return list(state["train_smiles"])
