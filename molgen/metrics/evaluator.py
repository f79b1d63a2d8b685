"""The streaming evaluator: one pass over the samples, then each requested metric's record.

The samples are read in chunks: each chunk is classified (strict-valid or why not) on the
process pool, its new distinct molecules get the features the requested metrics name, and
per-molecule rows go to the caller. Memory grows with the number of distinct valid molecules,
not of samples.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import islice

import numpy as np

from molgen.errors import InputError
from molgen.metrics import frechet
from molgen.metrics.features import CHEMNETS, concat, features
from molgen.metrics.reference import Reference
from molgen.metrics.suite import GENERAL_DEFINITIONS, MOLGEN, REFERENCE, Benchmark, Samples
from molgen.parallel import ProcessPool

__all__ = [
    "MAX_ATOMS",
    "TABLE_COLUMNS",
    "TABLE_PROPERTIES",
    "Evaluation",
    "compute_metrics",
    "evaluate",
]

#: Default cap on a sample's heavy atoms (``"too_large"`` above): far above any drug, far below
#: the sizes that crash RDKit (20,000 chain atoms) or take a minute per molecule (2,000-atom
#: rings). Samples and reference molecules over it are invalid.
MAX_ATOMS = 1000

TABLE_PROPERTIES = ("qed", "logp", "sa")
TABLE_COLUMNS = ("index", "input", "canonical", "valid", "reason", *TABLE_PROPERTIES)


class _GrowingArray:
    """Rows appended chunk by chunk into a buffer whose capacity doubles when full: linear time
    in all, where joining every earlier chunk again for each new chunk was quadratic."""

    def __init__(self, first: np.ndarray) -> None:
        self._buffer = np.array(first)
        self._n = len(first)

    def extend(self, rows: np.ndarray) -> None:
        end = self._n + len(rows)
        if end > len(self._buffer):
            grown = np.empty((max(end, 2 * self._n), *self._buffer.shape[1:]), self._buffer.dtype)
            grown[: self._n] = self._buffer[: self._n]
            self._buffer = grown
        self._buffer[self._n : end] = rows
        self._n = end

    def values(self) -> np.ndarray:
        """The rows so far (a view of the buffer)."""
        return self._buffer[: self._n]


@dataclass
class _Scan:
    """What one pass over the samples leaves: counts, and features per distinct valid molecule."""

    n_samples: int = 0
    n_relaxed: int = 0
    reasons: Counter = field(default_factory=Counter)
    index: dict[str, int] = field(default_factory=dict)
    counts: list[int] = field(default_factory=list)
    first_seen: list[int] = field(default_factory=list)  # valid-sample rank of first occurrence
    n_valid: int = 0
    #: per feature, its values for the distinct molecules so far (lists for fragments and
    #: scaffolds)
    columns: dict[str, _GrowingArray | list] = field(default_factory=dict)

    @property
    def distinct(self) -> list[str]:
        return list(self.index)

    def weights(self) -> np.ndarray:
        return np.asarray(self.counts, np.int64)

    def add_features(self, chunk_features: dict[str, np.ndarray | list]) -> None:
        """Append the features of the chunk's new distinct molecules."""
        for name, values in chunk_features.items():
            column = self.columns.get(name)
            if not len(values):  # no new molecule (its empty array may lack the row shape)
                continue
            if isinstance(values, list):
                self.columns.setdefault(name, []).extend(values)
            elif column is None:
                self.columns[name] = _GrowingArray(values)
            else:
                column.extend(values)

    def feature(self, name: str):
        column = self.columns.get(name)
        if column is None:
            return [] if name in ("fragments", "scaffold") else np.zeros(0)
        return column if isinstance(column, list) else column.values()


@dataclass
class Evaluation:
    """Result of :func:`evaluate`: ``metrics`` (key -> float, NaN when undefined), sample counts,
    and the per-molecule table (``TABLE_COLUMNS`` rows) when it was kept."""

    metrics: dict[str, float]
    n_samples: int
    n_valid: int
    n_relaxed_valid: int
    n_distinct: int
    reasons: dict[str, int]
    reference_size: int | None
    table: list[tuple] | None = None
    notes: list[str] = field(default_factory=list)
    #: distinct strict-valid canonical SMILES, their occurrence counts, and their properties
    #: (``TABLE_PROPERTIES`` that were computed), e.g. for plots.
    distinct: list[str] = field(default_factory=list)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    properties: dict[str, np.ndarray] = field(default_factory=dict)
    #: the definition of each key of ``metrics``
    definitions: dict[str, str] = field(default_factory=dict)
    #: the name of the benchmark whose metrics these are
    benchmark: str = MOLGEN.name
    #: the definitions every metric shares (validity, canonical form, ...)
    general_definitions: dict[str, str] = field(default_factory=lambda: dict(GENERAL_DEFINITIONS))

    def to_report(self) -> dict:
        """JSON-ready report: metric floats at top level (NaN -> None), ``n_samples``, counts,
        ``definitions``."""
        report: dict = {k: (v if math.isfinite(v) else None) for k, v in self.metrics.items()}
        report.update(
            n_samples=self.n_samples,
            n_valid=self.n_valid,
            n_relaxed_valid=self.n_relaxed_valid,
            n_distinct=self.n_distinct,
            invalid_reasons=dict(self.reasons),
            reference_size=self.reference_size,
            notes=list(self.notes),
            definitions={**self.general_definitions, **self.definitions},
        )
        return report


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _references(
    reference: Reference | Sequence[str] | Mapping[str, Reference | Sequence[str]] | None,
    n_jobs: int | None,
    max_atoms: int | None,
) -> dict[str, Reference]:
    """``{name: Reference}``: a mapping as given, a single reference under :data:`REFERENCE`."""
    if reference is None:
        return {}
    given = dict(reference) if isinstance(reference, Mapping) else {REFERENCE: reference}
    out = {}
    for name, value in given.items():
        if isinstance(value, str):
            raise InputError("reference must be a Reference or a sequence of SMILES, not a str")
        out[name] = (
            value
            if isinstance(value, Reference)
            else Reference.from_smiles(value, n_jobs=n_jobs, max_atoms=max_atoms)
        )
    return out


def evaluate(
    generated: Iterable[str | None],
    reference: Reference | Sequence[str] | Mapping[str, Reference | Sequence[str]] | None = None,
    *,
    metrics: Collection[str] | None = None,
    n_jobs: int | None = 1,
    keep_table: bool = True,
    on_rows: Callable[[list[tuple]], None] | None = None,
    chunk_size: int = 50_000,
    progress: bool = False,
    benchmark: Benchmark = MOLGEN,
    max_atoms: int | None = MAX_ATOMS,
) -> Evaluation:
    """Evaluate samples (SMILES; None or "" = invalid) against an optional reference.

    Streams ``generated`` in chunks of ``chunk_size``: memory grows with the number of distinct
    valid molecules, not of samples. Per-molecule rows (``TABLE_COLUMNS``; properties of valid
    samples) go to ``on_rows`` chunk by chunk and are kept in ``Evaluation.table`` when
    ``keep_table``. ``metrics=None`` computes every metric of ``benchmark`` the inputs allow
    (reference metrics need their reference; ``fcd`` needs the ``fcd`` extra, else it is absent
    with a warning); the benchmark's ``classify`` decides validity and the canonical form.
    ``reference`` is the one reference of molgen's benchmark, or a mapping from a benchmark's
    reference names (:attr:`Metric.reference`) to sets. ``n_jobs`` processes
    (:func:`molgen.parallel.resolve_jobs`) run the per-molecule work (RDKit and ChemNet); the
    results do not depend on ``n_jobs`` or ``chunk_size``. A sample (or reference molecule given
    as SMILES) with more than ``max_atoms`` heavy atoms is invalid (``"too_large"``; None: no
    cap), decided before RDKit's costly calls.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if max_atoms is not None and max_atoms < 1:
        raise InputError(f"max_atoms must be >= 1, got {max_atoms}")
    references = _references(reference, n_jobs, max_atoms)
    wanted = benchmark.select(metrics, references)
    notes = []
    if any(CHEMNETS.keys() & set(m.features) for m in wanted) and not frechet.fcd_available():
        warnings.warn(frechet.FCD_MISSING_MESSAGE, stacklevel=2)
        notes.append(frechet.FCD_MISSING_MESSAGE)
        wanted = [m for m in wanted if not CHEMNETS.keys() & set(m.features)]
    names = {name for metric in wanted for name in metric.features}
    chemnets = sorted(names & CHEMNETS.keys())
    if len(chemnets) > 1:
        raise ValueError(f"benchmark {benchmark.name}: metrics read two ChemNet features")
    chemnet = chemnets[0] if chemnets else None
    table_wanted = keep_table or on_rows is not None
    if table_wanted:
        names.update(TABLE_PROPERTIES)

    scan = _Scan()
    table: list[tuple] | None = [] if keep_table else None
    fcd_acc = frechet.FrechetAccumulator() if chemnet is not None else None
    classify = partial(benchmark.classify, max_atoms=max_atoms)
    late_counts: Counter = Counter()  # repeats of molecules first seen in an earlier chunk
    bar = _progress_bar(progress)
    with ProcessPool(n_jobs) as pool:
        for chunk in _chunks(generated, chunk_size):
            first_new = len(scan.index)
            classified = concat(pool.map(classify, chunk, min_part=2))
            distinct_ids = _count_chunk(scan, classified, first_new, late_counts)
            new = scan.distinct[first_new:]
            chunk_features = features(pool, new, names)
            if chemnet is not None:  # weighted into the running moments, not kept
                fcd_acc.add(chunk_features.pop(chemnet), scan.weights()[first_new:])
            scan.add_features(chunk_features)
            if table_wanted:
                rows = _rows(scan, chunk, classified, distinct_ids)
                if on_rows is not None:
                    on_rows(rows)
                if table is not None:
                    table.extend(rows)
            if bar is not None:
                bar.update(len(chunk))
        if fcd_acc is not None and late_counts:
            late = list(late_counts)
            weights = np.array([late_counts[s] for s in late])
            fcd_acc.add(features(pool, late, [chemnet])[chemnet], weights)
        if bar is not None:
            bar.close()
        if scan.n_samples == 0:
            raise InputError("generated: no samples")
        samples = Samples(
            n_samples=scan.n_samples,
            n_relaxed=scan.n_relaxed,
            distinct=scan.distinct,
            weights=scan.weights(),
            first_seen=np.asarray(scan.first_seen, np.int64),
            features={name: scan.feature(name) for name in names - CHEMNETS.keys()},
            chemnet=fcd_acc,
            pool=pool,
        )
        values = {m.name: m.compute(samples, references.get(m.reference)) for m in wanted}
    main_reference = references.get(REFERENCE)
    return Evaluation(
        metrics=values,
        n_samples=scan.n_samples,
        n_valid=samples.n_valid,
        n_relaxed_valid=scan.n_relaxed,
        n_distinct=samples.n_distinct,
        reasons=dict(scan.reasons),
        reference_size=None if main_reference is None else len(main_reference),
        table=table,
        notes=notes,
        distinct=samples.distinct,
        weights=samples.weights,
        properties={p: samples.features[p] for p in TABLE_PROPERTIES if p in names},
        definitions={m.name: m.definition for m in wanted},
        benchmark=benchmark.name,
        general_definitions=dict(benchmark.general_definitions),
    )


def compute_metrics(
    generated: Sequence[str | None],
    reference: Reference | Sequence[str] | Mapping[str, Reference | Sequence[str]] | None = None,
    *,
    metrics: Collection[str] | None = None,
    n_jobs: int | None = 1,
    benchmark: Benchmark = MOLGEN,
    max_atoms: int | None = MAX_ATOMS,
) -> dict[str, float]:
    """``{metric: value}`` for the requested ``metrics`` (all available when None); see
    :data:`~molgen.metrics.suite.DEFINITIONS`. Reference metrics are absent without a reference,
    ``fcd`` without the ``fcd`` extra. Values are NaN when undefined (e.g. uniqueness with no
    valid sample)."""
    return evaluate(
        generated,
        reference,
        metrics=metrics,
        n_jobs=n_jobs,
        keep_table=False,
        benchmark=benchmark,
        max_atoms=max_atoms,
    ).metrics


def _progress_bar(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(unit=" mol", desc="evaluating", mininterval=1.0)


def _count_chunk(
    scan: _Scan, classified: list[tuple], first_new: int, late_counts: Counter
) -> list[int]:
    """Update the scan with one chunk; return each sample's distinct index (-1 if invalid)."""
    ids = []
    for canonical, reason in classified:
        scan.n_samples += 1
        if canonical is not None:
            scan.n_relaxed += 1
        if reason is not None:
            scan.reasons[reason] += 1
            ids.append(-1)
            continue
        idx = scan.index.setdefault(canonical, len(scan.index))
        if idx == len(scan.counts):
            scan.counts.append(0)
            scan.first_seen.append(scan.n_valid)
        scan.counts[idx] += 1
        scan.n_valid += 1
        if idx < first_new:
            late_counts[canonical] += 1
        ids.append(idx)
    return ids


def _rows(scan: _Scan, chunk: list, classified: list[tuple], ids: list[int]) -> list[tuple]:
    offset = scan.n_samples - len(chunk)
    props = [scan.feature(name) for name in TABLE_PROPERTIES]
    rows = []
    for k, (sample, (canonical, reason), idx) in enumerate(
        zip(chunk, classified, ids, strict=True)
    ):
        values = [float(p[idx]) for p in props] if idx >= 0 else [None] * len(props)
        shown = sample if isinstance(sample, str) else None  # RDKit molecules have no input text
        rows.append((offset + k, shown, canonical, reason is None, reason, *values))
    return rows
