"""Sampling molecules (or graphs, for a run on graphs without chemistry) from a generator or a
run, in batches, streaming."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx
import torch

from molgen.data.graphs import GraphVocabulary, dense_to_graphs, graph6_line
from molgen.models import Generator
from molgen.parallel import ProcessPool, resolve_jobs
from molgen.training.run import Run, load_run

if TYPE_CHECKING:
    from molgen.chem import FragmentVocabulary, Vocabulary

__all__ = [
    "generate_graphs",
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
    from molgen.chem import FragmentVocabulary, decode, decode_fragments  # RDKit: molecules only

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


@torch.no_grad()
def generate_graphs(
    generator: Generator,
    n: int,
    *,
    seed: int,
    batch_size: int = 1024,
    batches: Iterable[int] | None = None,
) -> Iterator[list[nx.Graph]]:
    """Yield batches of sampled graphs (networkx, the present nodes numbered ``0..n-1``) of a
    generator on graphs without chemistry, drawn as :func:`generate_smiles` draws molecules
    (batch ``i`` from its own RNG seeded by ``(seed, i)``)."""
    for x, adj in _draw(
        generator, n, seed=seed, batch_size=batch_size, batches=batches, sample_temperature=None
    ):
        yield dense_to_graphs(x, adj)


def _generate(
    run: Run, n: int, *, seed: int, batch_size: int, batches: Iterable[int] | None = None
) -> Iterator[list[str | None]]:
    """A run's samples as lines: SMILES of molecules, graph6 of graphs."""
    if isinstance(run.vocab, GraphVocabulary):
        for graphs in generate_graphs(
            run.generator, n, seed=seed, batch_size=batch_size, batches=batches
        ):
            yield [graph6_line(graph) for graph in graphs]
        return
    yield from generate_smiles(
        run.generator, run.vocab, n, seed=seed, batch_size=batch_size, batches=batches
    )


def iter_samples(
    run: Run | str | Path, n: int, seed: int = 0, batch_size: int = 1024, jobs: int = 1
) -> Iterator[list[str | None]]:
    """Stream batches of samples from a run (or its checkpoint), in order, on ``jobs``
    processes (:func:`molgen.parallel.resolve_jobs`: 1 here, -1 every core).

    The result is identical for any ``jobs`` (per-batch seeds). At most ``2 * jobs`` batches
    are in flight, so memory stays bounded however large ``n`` is. Each worker loads the
    generator from the checkpoint once. A run on graphs yields graph6 lines
    (:func:`~molgen.data.graphs.graph6_line`) instead of SMILES.
    """
    if not isinstance(run, Run):
        run = load_run(run, train_smiles=False)
    if resolve_jobs(jobs) == 1:
        yield from _generate(run, n, seed=seed, batch_size=batch_size)
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
    return next(_generate(run, n, seed=seed, batch_size=batch_size, batches=[index]))
