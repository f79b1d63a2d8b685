"""Evaluation of generated molecules: explicit definitions, one implementation, fast.

``compute_metrics(samples, reference, metrics=...)`` returns ``{key: float}``; ``evaluate`` adds
counts and the per-molecule table; ``Reference`` caches everything about the reference set.
Each metric is one :class:`Metric` record of the :data:`MOLGEN` benchmark (``suite.py``;
:data:`BENCHMARKS` holds it, MOSES' and GDSS's by name), and also a function of its own
(``molgen.metrics.validity(samples)``, ``molgen.metrics.snn(samples, reference)``, ...) whose
docstring is its definition (:data:`DEFINITIONS`). Samples are SMILES strings or RDKit
molecules; None and "" are invalid.

Every name here is imported on first access, so :mod:`molgen.metrics.graphs` (the metrics of
graphs without chemistry) imports no RDKit.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from molgen.metrics.reference import Reference

#: The metrics of MOLGEN that are also functions of this package (``molgen.metrics.qed``).
_METRIC_FUNCTIONS = (
    "validity",
    "validity_relaxed",
    "uniqueness",
    "novelty",
    "qed",
    "logp",
    "sa",
    "logp_normalized",
    "sa_normalized",
    "intdiv1",
    "intdiv2",
    "snn",
    "fcd",
    "frag",
    "scaf",
    "kl_score",
    "nspdk",
)

__all__ = [
    "BENCHMARKS",
    "CONSTRAINT_DEFINITIONS",
    "DEFINITIONS",
    "METRICS",
    "MOLGEN",
    "REFERENCE_METRICS",
    "TABLE_COLUMNS",
    "Benchmark",
    "Evaluation",
    "FrechetStats",
    "Metric",
    "MoleculeTableWriter",
    "ParallelMap",
    "Reference",
    "compute_metrics",
    "constraint_metrics",
    "cosine_similarity_counts",
    "evaluate",
    "fcd_available",
    "frechet_distance",
    "get_benchmark",
    "kl_score_of_tables",
    "read_smiles_file",
    "write_report",
    *_METRIC_FUNCTIONS,
]


#: Each public name imported on first access and ``(module, name there)``: importing
#: ``molgen.metrics.graphs`` (generic graphs) then imports no RDKit.
_LAZY = {
    "BENCHMARKS": ("molgen.metrics.benchmarks", "BENCHMARKS"),
    "get_benchmark": ("molgen.metrics.benchmarks", "get_benchmark"),
    "CONSTRAINT_DEFINITIONS": ("molgen.metrics.constraints", "CONSTRAINT_DEFINITIONS"),
    "constraint_metrics": ("molgen.metrics.constraints", "constraint_metrics"),
    **{
        name: ("molgen.metrics.evaluator", name)
        for name in ("TABLE_COLUMNS", "Evaluation", "compute_metrics", "evaluate")
    },
    **{
        name: ("molgen.metrics.frechet", name)
        for name in ("FrechetStats", "fcd_available", "frechet_distance")
    },
    "Reference": ("molgen.metrics.reference", "Reference"),
    **{
        name: ("molgen.metrics.report", name)
        for name in ("MoleculeTableWriter", "read_smiles_file", "write_report")
    },
    **{
        name: ("molgen.metrics.suite", name)
        for name in (
            "DEFINITIONS",
            "METRICS",
            "MOLGEN",
            "REFERENCE_METRICS",
            "Benchmark",
            "Metric",
            "cosine_similarity_counts",
            "kl_score_of_tables",
        )
    },
    "ParallelMap": ("molgen.parallel", "ProcessPool"),  # this package's name for the pool
}


def _metric_function(name: str) -> Callable[..., float]:
    """``name(samples[, reference])``: :func:`compute_metrics` of that one metric, documented
    by its definition."""
    from molgen.metrics.evaluator import compute_metrics
    from molgen.metrics.suite import MOLGEN

    record = MOLGEN[name]

    def metric(samples: Sequence, reference: Reference | Sequence[str] | None = None) -> float:
        if record.needs_reference and reference is None:
            raise ValueError(f"{name} needs a reference")
        return compute_metrics(samples, reference, metrics={name})[name]

    metric.__name__ = metric.__qualname__ = name
    signature = f"{name}(samples{', reference' if record.needs_reference else ''})"
    metric.__doc__ = f"{signature}: {record.definition}."
    return metric


def __getattr__(name: str) -> Any:
    if name in _METRIC_FUNCTIONS:
        value = _metric_function(name)
    elif name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
    else:
        raise AttributeError(f"module 'molgen.metrics' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_METRIC_FUNCTIONS))
