"""What a constrained sampler's validity owes to its constraints.

A constrained sampler (valence budgets, a connect rule, a ring-size rule) draws each sample
from the same logits and noise as the unconstrained sampler would; comparing the two samples
of each noise says how much of the validity the rules made. The samples come in pairs, one
canonical SMILES each (``None`` for a graph that is not a molecule): the constrained sample as
drawn (fragments kept, ``a.b``) and the unconstrained one decoded strictly (``None`` unless it
is one sanitizable molecule).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CONSTRAINT_DEFINITIONS", "constraint_metrics"]

#: The keys of :func:`constraint_metrics` and what they measure.
CONSTRAINT_DEFINITIONS = {
    "validity_unconstrained_logits": "strict validity of the same logits and the same noise "
    "sampled without valence budgets, connect rule or ring-size rule (each bond drawn "
    "freely)",
    "constraint_free_share": "share of samples that are strict-valid with no constraint "
    "needed (GraphDF's 'validity without check'): the unconstrained sample of the same noise "
    "is strict-valid and the same molecule as the constrained one",
}


def constraint_metrics(
    constrained: Sequence[str | None], unconstrained: Sequence[str | None]
) -> dict[str, float]:
    """:data:`CONSTRAINT_DEFINITIONS` of ``n`` paired samples: ``constrained[i]`` and
    ``unconstrained[i]`` (strict: ``None`` unless one molecule) drawn from the same noise.

    Raises ValueError when the two lists differ in length or are empty.
    """
    if len(constrained) != len(unconstrained):
        raise ValueError(
            f"{len(constrained)} constrained samples but {len(unconstrained)} unconstrained: "
            "the samples must be paired by noise"
        )
    if not constrained:
        raise ValueError("no samples")
    pairs = list(zip(constrained, unconstrained, strict=True))
    valid = sum(free is not None for _, free in pairs)
    untouched = sum(free is not None and free == drawn for drawn, free in pairs)
    n = len(constrained)
    return {
        "validity_unconstrained_logits": valid / n,
        "constraint_free_share": untouched / n,
    }
