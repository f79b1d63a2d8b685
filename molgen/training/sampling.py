"""Sampling molecules from a generator or a checkpoint, in batches, streaming."""

from __future__ import annotations

import itertools
import math
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from molgen.chem import Vocabulary, decode
from molgen.config import Config
from molgen.models import Generator
from molgen.training.checkpoint import load_checkpoint

__all__ = [
    "generate_smiles",
    "iter_samples",
    "load_generator",
    "load_reference_smiles",
    "sample_smiles",
]


def _batch_seed(seed: int, index: int) -> int:
    # Each batch has its own seed, so a batch's molecules do not depend on which process
    # draws it or on how many batches came before: parallel sampling equals serial sampling.
    return (seed * 1_000_003 + index) % (2**63)


@torch.no_grad()
def generate_smiles(
    generator: Generator,
    vocab: Vocabulary,
    n: int,
    *,
    tau: float,
    seed: int,
    batch_size: int = 1024,
    batches: Iterable[int] | None = None,
) -> Iterator[list[str | None]]:
    """Yield canonical SMILES in batches (``None`` where a graph does not sanitize).

    Fragments are kept (relaxed decoding, ``a.b``) so strict and relaxed validity can both be
    measured downstream. Batch ``i`` (of ``ceil(n / batch_size)``) draws from its own RNG seeded
    by ``(seed, i)``: sampling never disturbs training randomness, the same seed gives the same
    molecules, and ``batches`` (a subset of batch indices) lets processes share the work.
    """
    device = next(generator.parameters()).device
    rng = torch.Generator(device)
    was_training = generator.training
    generator.eval()
    try:
        for index in range(math.ceil(n / batch_size)) if batches is None else batches:
            b = min(batch_size, n - index * batch_size)
            rng.manual_seed(_batch_seed(seed, index))
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
    checkpoint: str | Path, n: int, seed: int = 0, batch_size: int = 1024, jobs: int = 1
) -> list[str | None]:
    """``n`` samples from a checkpoint as canonical SMILES (``None`` for invalid graphs)."""
    return [s for batch in iter_samples(checkpoint, n, seed, batch_size, jobs) for s in batch]


def iter_samples(
    checkpoint: str | Path, n: int, seed: int = 0, batch_size: int = 1024, jobs: int = 1
) -> Iterator[list[str | None]]:
    """Stream batches of samples from a checkpoint, in order, with ``jobs`` processes.

    The result is identical for any ``jobs`` (per-batch seeds). At most ``2 * jobs`` batches
    are in flight, so memory stays bounded however large ``n`` is.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if jobs == 1:
        generator, vocab, tau, _ = load_generator(checkpoint)
        yield from generate_smiles(generator, vocab, n, tau=tau, seed=seed, batch_size=batch_size)
        return
    indices = iter(range(math.ceil(n / batch_size)))
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    with context.Pool(jobs, initializer=_init_worker, initargs=(str(checkpoint),)) as pool:
        pending: deque = deque()
        for index in itertools.islice(indices, 2 * jobs):
            pending.append(pool.apply_async(_sample_batch, (index, n, seed, batch_size)))
        while pending:
            batch = pending.popleft().get()
            for index in itertools.islice(indices, 1):
                pending.append(pool.apply_async(_sample_batch, (index, n, seed, batch_size)))
            yield batch


_worker: dict = {}


def _init_worker(checkpoint: str) -> None:
    torch.set_num_threads(1)  # one process per core
    _worker["model"] = load_generator(checkpoint)


def _sample_batch(index: int, n: int, seed: int, batch_size: int) -> list[str | None]:
    generator, vocab, tau, _ = _worker["model"]
    return next(
        generate_smiles(
            generator, vocab, n, tau=tau, seed=seed, batch_size=batch_size, batches=[index]
        )
    )


def load_reference_smiles(checkpoint: str | Path) -> list[str]:
    """The training molecules of a checkpoint's run (its ``train.smi``)."""
    state = load_checkpoint(checkpoint)
    return list(state["train_smiles"])
