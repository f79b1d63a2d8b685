"""Evaluation of generated molecules: explicit definitions, one implementation, fast.

``compute_metrics(samples, reference, metrics=...)`` returns ``{key: float}``; ``evaluate`` adds
counts and the per-molecule table; ``Reference`` caches everything about the reference set.
Each metric is also a function of its own (``molgen.metrics.validity(samples)``,
``molgen.metrics.snn(samples, reference)``, ...) whose docstring is its definition
(:data:`DEFINITIONS`). Samples are SMILES strings or RDKit molecules; None and "" are invalid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from molgen.metrics.core import (
    DEFINITIONS,
    METRICS,
    REFERENCE_METRICS,
    TABLE_COLUMNS,
    Evaluation,
    ParallelMap,
    Reference,
    compute_metrics,
    cosine_similarity_counts,
    evaluate,
    kl_score_of_tables,
)
from molgen.metrics.frechet import FrechetStats, fcd_available, frechet_distance
from molgen.metrics.report import MoleculeTableWriter, read_smiles_file, write_report

__all__ = [
    "DEFINITIONS",
    "METRICS",
    "REFERENCE_METRICS",
    "TABLE_COLUMNS",
    "Evaluation",
    "FrechetStats",
    "MoleculeTableWriter",
    "ParallelMap",
    "Reference",
    "compute_metrics",
    "cosine_similarity_counts",
    "evaluate",
    "fcd_available",
    "frechet_distance",
    "kl_score_of_tables",
    "read_smiles_file",
    "write_report",
    *METRICS,
]


def _metric_function(name: str) -> Callable[..., float]:
    needs_reference = name in REFERENCE_METRICS

    def metric(samples: Sequence, reference: Reference | Sequence[str] | None = None) -> float:
        if needs_reference and reference is None:
            raise ValueError(f"{name} needs a reference")
        return compute_metrics(samples, reference, metrics={name})[name]

    metric.__name__ = metric.__qualname__ = name
    signature = f"{name}(samples{', reference' if needs_reference else ''})"
    metric.__doc__ = f"{signature}: {DEFINITIONS[name]}."
    return metric


for _name in METRICS:
    globals()[_name] = _metric_function(_name)
del _name
