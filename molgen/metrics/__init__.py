"""Evaluation of generated molecules: explicit definitions, one implementation, fast.

``compute_metrics(samples, reference, metrics=...)`` returns ``{key: float}``; ``evaluate`` adds
counts and the per-molecule table; ``Reference`` caches everything about the reference set.
Each metric is one :class:`Metric` record of the :data:`MOLGEN` benchmark (``suite.py``;
:data:`BENCHMARKS` holds it, MOSES' and GDSS's by name), and also a function of its own
(``molgen.metrics.validity(samples)``, ``molgen.metrics.snn(samples, reference)``, ...) whose
docstring is its definition (:data:`DEFINITIONS`). Samples are SMILES strings or RDKit
molecules; None and "" are invalid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from molgen.metrics.benchmarks import BENCHMARKS, get_benchmark
from molgen.metrics.constraints import CONSTRAINT_DEFINITIONS, constraint_metrics
from molgen.metrics.evaluator import TABLE_COLUMNS, Evaluation, compute_metrics, evaluate
from molgen.metrics.frechet import FrechetStats, fcd_available, frechet_distance
from molgen.metrics.reference import Reference
from molgen.metrics.report import MoleculeTableWriter, read_smiles_file, write_report
from molgen.metrics.suite import (
    DEFINITIONS,
    METRICS,
    MOLGEN,
    REFERENCE_METRICS,
    Benchmark,
    Metric,
    cosine_similarity_counts,
    kl_score_of_tables,
)
from molgen.parallel import ProcessPool as ParallelMap  # this package's name for the pool

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
    # one function per metric of MOLGEN
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
]


def _metric_function(name: str) -> Callable[..., float]:
    """``name(samples[, reference])``: :func:`compute_metrics` of that one metric, documented
    by its definition."""
    record = MOLGEN[name]

    def metric(samples: Sequence, reference: Reference | Sequence[str] | None = None) -> float:
        if record.needs_reference and reference is None:
            raise ValueError(f"{name} needs a reference")
        return compute_metrics(samples, reference, metrics={name})[name]

    metric.__name__ = metric.__qualname__ = name
    signature = f"{name}(samples{', reference' if record.needs_reference else ''})"
    metric.__doc__ = f"{signature}: {record.definition}."
    return metric


validity = _metric_function("validity")
validity_relaxed = _metric_function("validity_relaxed")
uniqueness = _metric_function("uniqueness")
novelty = _metric_function("novelty")
qed = _metric_function("qed")
logp = _metric_function("logp")
sa = _metric_function("sa")
logp_normalized = _metric_function("logp_normalized")
sa_normalized = _metric_function("sa_normalized")
intdiv1 = _metric_function("intdiv1")
intdiv2 = _metric_function("intdiv2")
snn = _metric_function("snn")
fcd = _metric_function("fcd")
frag = _metric_function("frag")
scaf = _metric_function("scaf")
kl_score = _metric_function("kl_score")
nspdk = _metric_function("nspdk")
