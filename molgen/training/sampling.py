"""Sampling molecules from a generator or a run, in batches, streaming."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from molgen.chem import FragmentVocabulary, Vocabulary, decode, decode_fragments
from molgen.models import Generator
from molgen.parallel import ProcessPool, resolve_jobs
from molgen.training.run import Run, load_run

__all__ = [
    "generate_smiles",
    "iter_samples",
]


def _batch_seed(seed: int, index: int) -> int:
    # Each batch has its own seed, so a batch's molecules do not depend on which process
    # draws it or on how many batches came before: parallel sampling equals serial sampling.
    return (seed * 1_000_003 + index) % (2**63)


def _draw(
    generator: Generator,
    n: int,
    *,
    seed: int,
    batch_size: int,
    batches: Iterable[int] | None,
    sample_temperature: tuple[float, float] | None,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Atom classes ``[b, N]`` and bond classes ``[b, N, N]`` of each batch (and site indices
    ``[b, N, N]`` from a fragment generator), in eval mode.

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
            graph = generator(
                z, generator=rng, sample_temperature=temperature
            )  # [b, N, A], [b, N, N, R] (, [b, N, N, S]) one-hot
            yield tuple(part.argmax(-1).cpu() for part in graph)
    finally:
        generator.train(was_training)


@torch.no_grad()
def generate_smiles(
    generator: Generator,
    vocab: Vocabulary | FragmentVocabulary,
    n: int,
    *,
    seed: int,
    batch_size: int = 1024,
    batches: Iterable[int] | None = None,
    sample_temperature: tuple[float, float] | None = None,
    strict: bool = False,
) -> Iterator[list[str | None]]:
    """Yield canonical SMILES in batches (``None`` where a graph does not sanitize); a
    fragment generator's graphs are decoded with its :class:`~molgen.chem.FragmentVocabulary`
    (:func:`~molgen.chem.decode_fragments`).

    Fragments are kept (relaxed decoding, ``a.b``) so strict and relaxed validity can both be
    measured downstream; ``strict=True`` gives ``None`` for them too. Batch ``i`` (of
    ``ceil(n / batch_size)``) draws from its own RNG seeded by ``(seed, i)``: sampling never
    disturbs training randomness, the same seed gives the same molecules, and ``batches`` (a
    subset of batch indices) lets processes share the work.
    ``sample_temperature`` ``(atoms, bonds)`` defaults to the generator's configured one.
    """
    for classes in _draw(
        generator,
        n,
        seed=seed,
        batch_size=batch_size,
        batches=batches,
        sample_temperature=sample_temperature,
    ):
        if isinstance(vocab, FragmentVocabulary):
            yield decode_fragments(*classes, vocab, strict=strict)
        else:
            yield decode(*classes, vocab, strict=strict)


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
    with ProcessPool(jobs, initializer=_worker_run, initargs=(checkpoint,)) as pool:
        yield from pool.imap(sample, range(math.ceil(n / batch_size)))


@functools.cache
def _worker_run(checkpoint: str) -> Run:
    return load_run(checkpoint, train_smiles=False)  # once per worker: the initializer warms it


def _sample_batch(
    checkpoint: str, index: int, *, n: int, seed: int, batch_size: int
) -> list[str | None]:
    run = _worker_run(checkpoint)
    batches = generate_smiles(
        run.generator, run.vocab, n, seed=seed, batch_size=batch_size, batches=[index]
    )
    return next(batches)
