"""The constraint report: a generator's samples beside those of the same noise drawn freely.

:func:`constraint_report` takes the samples a constrained generator already drew
(:func:`~molgen.training.sampling.generate_smiles`), draws the same noise again with
:class:`UnconstrainedSampler` (``n`` more graphs), and scores the pairs with
:func:`molgen.metrics.constraint_metrics` (:data:`molgen.metrics.CONSTRAINT_DEFINITIONS`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from molgen.chem import Vocabulary
from molgen.metrics import constraint_metrics
from molgen.models import Generator
from molgen.models.fragments import FragmentGenerator
from molgen.nn import BudgetedSymmetricGumbelSoftmax
from molgen.parallel import ProcessPool, resolve_jobs
from molgen.training.sampling import generate_smiles

__all__ = ["UnconstrainedSampler", "constraint_report", "unconstrained_smiles"]


class UnconstrainedSampler(nn.Module):
    r"""A generator's logits and noise, sampled without its constraints.

    The same steps and random draws as :meth:`Generator.forward
    <molgen.models.Generator.forward>` (noise, atoms, bond logits, one generator seed per
    bond round), with every atom kept (no tree rule) and every bond class allowed (no valence
    budget, connect or ring-size rule). For ``generator.constraint: none`` it samples what
    the generator samples.

    Args:
        generator: the :class:`~molgen.models.Generator` whose weights it samples (shared,
            not copied).

    Shapes:
        - **z:** :math:`(B, z_{dim})`
        - **output:** atoms :math:`(B, N, A)`, bonds :math:`(B, N, N, R)`
    """

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator
        self.free_bonds = None
        if generator.constraint != "none":
            sampler = generator.bond_sampler
            self.free_bonds = BudgetedSymmetricGumbelSoftmax(
                sampler.hard, sampler.estimator, sampler.gumbel_rao_samples, sampler.eval_mode
            )

    def reset_parameters(self) -> None:
        """No parameters of its own: the generator's are sampled."""

    @property
    def sample_temperature(self) -> tuple[float, float]:
        return self.generator.sample_temperature

    def sample_noise(self, batch_size: int, generator=None, device=None) -> Tensor:
        return self.generator.sample_noise(batch_size, generator=generator, device=device)

    def forward(
        self,
        z: Tensor,
        tau: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
        *,
        sample_temperature: tuple[float, float] | None = None,
    ) -> tuple[Tensor, Tensor]:
        model = self.generator
        h = model.features(z)
        atom_logits = model.atom_logits(h)
        if sample_temperature is not None:
            atom_logits = atom_logits / sample_temperature[0]
        x = model.atom_sampler(atom_logits, tau, generator=generator)
        bond_logits = model.bond_logits(h, x)
        if sample_temperature is not None:
            bond_logits = bond_logits / sample_temperature[1]
        if self.free_bonds is None:
            return x, model.sample_bonds(x, bond_logits, tau, generator)
        node_mask = x.detach().argmax(-1) != 0
        unlimited = torch.full(node_mask.shape, math.inf, device=z.device)
        adj = self.free_bonds(
            bond_logits, unlimited, model.bond_orders, tau, node_mask, generator=generator
        )
        return x, adj

    def extra_repr(self) -> str:
        return f"constraint={self.generator.constraint!r} removed"


def unconstrained_smiles(
    generator: Generator,
    vocab: Vocabulary,
    n: int,
    *,
    seed: int,
    batch_size: int = 1024,
    batches: Iterable[int] | None = None,
    sample_temperature: tuple[float, float] | None = None,
) -> Iterator[list[str | None]]:
    """The batches :func:`~molgen.training.sampling.generate_smiles` draws with the same
    arguments, drawn by :class:`UnconstrainedSampler` and decoded strictly (``None`` unless
    one sanitizable molecule)."""
    free = UnconstrainedSampler(generator)
    return generate_smiles(
        free,
        vocab,
        n,
        seed=seed,
        batch_size=batch_size,
        batches=batches,
        sample_temperature=sample_temperature,
        strict=True,
    )


def constraint_report(
    generator: Generator,
    vocab: Vocabulary,
    samples: Sequence[str | None],
    *,
    seed: int,
    batch_size: int = 1024,
    sample_temperature: tuple[float, float] | None = None,
    jobs: int | None = 1,
) -> dict[str, float]:
    """:func:`molgen.metrics.constraint_metrics` of ``samples``, the ``n`` SMILES that
    :func:`~molgen.training.sampling.generate_smiles` drew from ``generator`` with the same
    ``seed``, ``batch_size`` and ``sample_temperature``, against the same noise drawn without
    constraints (:func:`unconstrained_smiles`, on ``jobs`` processes: the result does not
    depend on ``jobs``). Empty for a fragment generator: its edges exist only with their
    sites, drawn within the sites' budgets, so it has no unconstrained form."""
    if isinstance(generator, FragmentGenerator):
        return {}
    n = len(samples)
    arguments = dict(seed=seed, batch_size=batch_size, sample_temperature=sample_temperature)
    if resolve_jobs(jobs) == 1:
        batches = unconstrained_smiles(generator, vocab, n, **arguments)
    else:
        task = functools.partial(_unconstrained_batch, n=n, **arguments)
        pool = ProcessPool(jobs, initializer=_set_worker_generator, initargs=(generator, vocab))
        with pool:
            batches = list(pool.imap(task, range(math.ceil(n / batch_size))))
    return constraint_metrics(samples, [s for batch in batches for s in batch])


#: The generator and vocabulary of a worker process, sent once by the pool's initializer.
_worker: tuple[Generator, Vocabulary] | None = None


def _set_worker_generator(generator: Generator, vocab: Vocabulary) -> None:
    global _worker
    _worker = (generator.cpu(), vocab)


def _unconstrained_batch(index: int, *, n: int, **arguments) -> list[str | None]:
    generator, vocab = _worker
    return next(unconstrained_smiles(generator, vocab, n, batches=[index], **arguments))
