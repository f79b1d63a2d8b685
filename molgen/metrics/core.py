"""The evaluation suite: metric definitions, the reference set, and the streaming evaluator.

Definitions shared by every metric (the ``definitions`` block of a report repeats them):

* **strict-valid**: RDKit parses and sanitizes the sample AND it is one connected fragment;
  **relaxed-valid**: it sanitizes (fragments allowed). ``None`` and ``""`` samples are invalid.
* **canonical**: ``Chem.MolToSmiles(mol, isomericSmiles=False)`` of the molecule
  ``Chem.MolFromSmiles`` gives (explicit hydrogens removed), atom maps cleared; duplicates are
  equal canonical SMILES. The reference is canonicalised the same way and reduced to its
  distinct strict-valid molecules.
* Properties and fingerprints of a sample are those of the molecule parsed from its canonical
  SMILES, so they are computed once per distinct molecule and weighted by its occurrences
  wherever a metric includes duplicates.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np

from molgen.chem.properties import (
    KL_DESCRIPTORS,
    N_CONTINUOUS_KL_DESCRIPTORS,
    classify_smiles,
    compute_features,
    normalized_logp,
    normalized_sa,
)
from molgen.metrics import frechet as frechet
from molgen.metrics.similarity import max_tanimoto, mean_tanimoto_powers

__all__ = [
    "DEFINITIONS",
    "METRICS",
    "REFERENCE_METRICS",
    "TABLE_COLUMNS",
    "Evaluation",
    "ParallelMap",
    "Reference",
    "compute_metrics",
    "evaluate",
]

#: Every metric key with its exact definition and source (the report's ``definitions``).
DEFINITIONS: dict[str, str] = {
    "validity": "strict-valid samples / all samples",
    "validity_relaxed": "sanitizable samples (disconnected fragments allowed) / all samples",
    "uniqueness": "distinct canonical SMILES among strict-valid samples / strict-valid samples",
    "novelty": (
        "distinct strict-valid canonical SMILES not in the reference / distinct strict-valid "
        "canonical SMILES"
    ),
    "qed": "mean RDKit QED (rdkit.Chem.QED.qed) over strict-valid samples, duplicates included",
    "logp": "mean Crippen MolLogP over strict-valid samples, duplicates included",
    "sa": (
        "mean synthetic accessibility (RDKit Contrib SA_Score sascorer, 1 easy .. 10 hard) over "
        "strict-valid samples, duplicates included"
    ),
    "logp_normalized": (
        "mean of MolGAN's normalised logP, clip((logP + 2.12178879609) / (6.0429063424 + "
        "2.12178879609), 0, 1) (MolGAN utils/molecular_metrics.py), over strict-valid samples"
    ),
    "sa_normalized": (
        "mean of MolGAN's normalised SA, clip((SA - 5) / (1.5 - 5), 0, 1) (MolGAN "
        "utils/molecular_metrics.py), over strict-valid samples"
    ),
    "intdiv1": (
        "MOSES internal diversity, p=1: 1 - mean_x mean_y T(x,y) over strict-valid samples "
        "(duplicates and x=y pairs included), T = Tanimoto of Morgan r=2 1024-bit fingerprints"
    ),
    "intdiv2": (
        "MOSES internal diversity, p=2: 1 - mean_x (mean_y T(x,y)^2)^(1/2), same sets and "
        "fingerprints as intdiv1"
    ),
    "snn": (
        "MOSES SNN: mean over strict-valid samples of the max Tanimoto (Morgan r=2, 1024 bits) "
        "to any reference molecule"
    ),
    "fcd": (
        "Frechet ChemNet Distance (Preuer et al. 2018; fcd package ChemNet, 512-d activations) "
        "between strict-valid canonical samples (duplicates included) and the reference"
    ),
    "frag": (
        "MOSES Frag: cosine similarity of BRICS fragment counts (FragmentOnBRICSBonds) of "
        "strict-valid samples (duplicates included) and of the reference"
    ),
    "scaf": (
        "MOSES Scaf: cosine similarity of Bemis-Murcko scaffold counts (scaffolds with >= 2 rings)"
        " of strict-valid samples (duplicates included) and of the reference"
    ),
    "kl_score": (
        "GuacaMol KL score: mean over 9 physchem descriptors (continuous: Gaussian KDE on a "
        "1000-point grid; integer: 10-bin histogram) and the internal similarity (max Tanimoto "
        "to another molecule, Morgan r=2 4096 bits) of exp(-KL(reference || samples)); "
        "distinct strict-valid samples vs the reference, each capped at 10000 molecules by a "
        "seeded random subset"
    ),
}
METRICS = tuple(DEFINITIONS)
REFERENCE_METRICS = frozenset({"novelty", "snn", "fcd", "frag", "scaf", "kl_score"})
GENERAL_DEFINITIONS = {
    "strict_valid": "RDKit parses and sanitizes the molecule AND it is one connected fragment",
    "canonical": (
        "Chem.MolToSmiles(mol, isomericSmiles=False) of the molecule Chem.MolFromSmiles gives "
        "(explicit hydrogens removed as it removes them), atom-map numbers cleared; the "
        "reference likewise"
    ),
    "reference": "distinct strict-valid canonical SMILES of the reference file",
    "missing_value": "null in JSON (NaN in Python) when a metric has no molecules to average",
}

CHEMNET = "chemnet"  # the ChemNet activations: a per-molecule feature like the RDKit ones
_FEATURES_OF: dict[str, tuple[str, ...]] = {
    "qed": ("qed",),
    "logp": ("logp",),
    "sa": ("sa",),
    "logp_normalized": ("logp",),
    "sa_normalized": ("sa",),
    "intdiv1": ("morgan",),
    "intdiv2": ("morgan",),
    "snn": ("morgan",),
    "frag": ("fragments",),
    "scaf": ("scaffold",),
    "kl_score": ("kl_descriptors", "morgan4096"),
    "fcd": (CHEMNET,),
}
TABLE_PROPERTIES = ("qed", "logp", "sa")
TABLE_COLUMNS = ("index", "input", "canonical", "valid", "reason", *TABLE_PROPERTIES)
KL_MAX_MOLECULES = 10_000
KL_SEED = 42
_CACHE_VERSION = "molgen-metrics-2"  # 2: explicit hydrogens and atom maps canonicalised away
_PARTS_PER_JOB = 4


# --------------------------------------------------------------------------- parallel map
class ParallelMap:
    """``map`` over sequences split into parts: in-process for ``n_jobs == 1`` (no pool start-up),
    else on a process pool (fork on Linux, where it is cheap; spawn elsewhere) whose workers run
    torch on one thread each."""

    def __init__(self, n_jobs: int) -> None:
        if n_jobs < 1:
            raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
        self.n_jobs = n_jobs
        self.pool = None
        if n_jobs > 1:
            method = "fork" if sys.platform.startswith("linux") else "spawn"
            self.pool = multiprocessing.get_context(method).Pool(n_jobs, _single_threaded)

    def map(self, fn: Callable[[Sequence], object], items: Sequence) -> list:
        if self.pool is None or len(items) < 2 * self.n_jobs:
            return [fn(items)]
        n_parts = self.n_jobs * _PARTS_PER_JOB
        size = -(-len(items) // n_parts)
        return self.pool.map(fn, [items[i : i + size] for i in range(0, len(items), size)])

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
            self.pool = None

    def __enter__(self) -> ParallelMap:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool = None


def _single_threaded() -> None:
    # the pool already fills the cores; and a forked OpenMP thread pool is not safe to reuse
    os.environ["OMP_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _molecule_features(canonical: Sequence[str], names: tuple[str, ...]) -> dict:
    """``compute_features`` for the RDKit names, ChemNet activations for :data:`CHEMNET`."""
    rdkit_names = [name for name in names if name != CHEMNET]
    out = compute_features(canonical, rdkit_names) if rdkit_names else {}
    if CHEMNET in names:
        out[CHEMNET] = frechet.chemnet_activations(canonical)
    return out


def _features(mapper: ParallelMap, canonical: Sequence[str], names: Collection[str]) -> dict:
    """Features of ``canonical`` computed in parallel parts, joined back in order. ChemNet rows
    do not depend on the batch they run in, so the parts change no value."""
    names = tuple(sorted(names))
    if not names:  # counting metrics only: nothing to parse again
        return {}
    parts = mapper.map(partial(_molecule_features, names=names), list(canonical))
    return {name: _concat([part[name] for part in parts]) for name in names}


def _concat(parts: list) -> np.ndarray | list:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [item for part in parts for item in part]


# --------------------------------------------------------------------------- disk cache
def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write through a temp file in the same folder, then rename: readers never see a partial
    file, and concurrent writers of the same content are harmless."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    _atomic_write(path, write)


def _save_json(path: Path, obj) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(obj))

    _atomic_write(path, write)


# --------------------------------------------------------------------------- reference
class Reference:
    """A reference set (usually the training data): its distinct strict-valid canonical SMILES
    and lazily computed statistics (fingerprints, FCD mean/covariance, fragment and scaffold
    counts, KL descriptors, property distributions).

    With ``cache_dir``, statistics are cached on disk under a content hash of the canonical set
    (``cache_dir/reference-HASH/``), and the canonical set itself under a hash of the raw input,
    so a second run over the same file skips canonicalisation too.
    """

    def __init__(
        self, canonical: Sequence[str], *, n_input: int | None = None, cache_dir: Path | None = None
    ) -> None:
        self.canonical: tuple[str, ...] = tuple(canonical)
        if not self.canonical:
            raise ValueError("reference: no strict-valid molecules")
        self.n_input = len(self.canonical) if n_input is None else n_input
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        digest = hashlib.sha256(_CACHE_VERSION.encode())
        for smiles in self.canonical:
            digest.update(smiles.encode() + b"\n")
        self.digest = digest.hexdigest()
        self._set: frozenset[str] | None = None
        self._memo: dict[str, object] = {}

    @classmethod
    def from_smiles(
        cls, smiles: Iterable[str], cache_dir: Path | None = None, *, n_jobs: int = 1
    ) -> Reference:
        """Canonicalise ``smiles`` (invalid and disconnected ones dropped, duplicates merged,
        first-occurrence order kept)."""
        lines = list(smiles)
        if not lines:
            raise ValueError("reference: no SMILES given")
        cache_file = None
        if cache_dir is not None:
            raw = hashlib.sha256(_CACHE_VERSION.encode())
            for line in lines:
                raw.update(str(line).encode() + b"\n")
            cache_file = Path(cache_dir) / f"canonical-{raw.hexdigest()[:32]}.txt"
            if cache_file.exists():
                canonical = cache_file.read_text().splitlines()
                return cls(canonical, n_input=len(lines), cache_dir=cache_dir)
        with ParallelMap(n_jobs) as mapper:
            classified = _concat(mapper.map(classify_smiles, lines))
        canonical = list(dict.fromkeys(c for c, reason in classified if reason is None))
        if cache_file is not None and canonical:
            _atomic_write(cache_file, lambda tmp: Path(tmp).write_text("\n".join(canonical)))
        return cls(canonical, n_input=len(lines), cache_dir=cache_dir)

    def __len__(self) -> int:
        return len(self.canonical)

    def __repr__(self) -> str:
        return f"Reference(n={len(self)}, n_input={self.n_input}, hash={self.digest[:12]})"

    @property
    def canonical_set(self) -> frozenset[str]:
        if self._set is None:
            self._set = frozenset(self.canonical)
        return self._set

    def _path(self, name: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"reference-{self.digest[:32]}" / name

    def _cached(self, name: str, kind: str, compute: Callable[[], object]):
        """Memory memo, then disk (``kind`` = npy / json / fcd), then ``compute()``."""
        if name in self._memo:
            return self._memo[name]
        path = self._path(f"{name}.{'npz' if kind == 'fcd' else kind}")
        value = None
        if path is not None and path.exists():
            if kind == "npy":
                value = np.load(path)
            elif kind == "json":
                value = json.loads(path.read_text())
            else:
                value = frechet.FrechetStats.load(path)
        if value is None:
            value = compute()
            if path is not None:
                if kind == "npy":
                    _save_npy(path, value)
                elif kind == "json":
                    _save_json(path, value)
                else:
                    value.save(path)
        self._memo[name] = value
        return value

    def feature(self, name: str, mapper: ParallelMap | None = None) -> np.ndarray:
        """Array feature (``qed``/``logp``/``sa``/``morgan``) of every reference molecule."""
        mapper = mapper or ParallelMap(1)
        return self._cached(name, "npy", lambda: _features(mapper, self.canonical, [name])[name])

    def counts(self, name: str, mapper: ParallelMap | None = None) -> dict[str, int]:
        """``fragments`` (BRICS) or ``scaffold`` (Murcko) counts over the reference."""
        mapper = mapper or ParallelMap(1)

        def compute() -> dict[str, int]:
            values = _features(mapper, self.canonical, [name])[name]
            return dict(_count_items(values, np.ones(len(values), np.int64)))

        return self._cached(f"{name}_counts", "json", compute)

    def kl_statistics(self, mapper: ParallelMap | None = None) -> np.ndarray:
        """``float64[n, 10]``: GuacaMol's 9 descriptors and the internal similarity of a seeded
        subset of at most 10000 reference molecules."""
        mapper = mapper or ParallelMap(1)

        def compute() -> np.ndarray:
            subset = [self.canonical[i] for i in _kl_subset(len(self))]
            feats = _features(mapper, subset, ["kl_descriptors", "morgan4096"])
            return _kl_table(feats)

        return self._cached("kl_statistics", "npy", compute)

    def fcd_stats(self, mapper: ParallelMap | None = None) -> frechet.FrechetStats:
        """ChemNet activation mean/covariance of the reference (cached as ``fcd.npz``)."""
        mapper = mapper or ParallelMap(1)

        def compute() -> frechet.FrechetStats:
            acc = frechet.FrechetAccumulator()
            step = 16384  # bounded memory for large references (32 MiB of activations)
            for start in range(0, len(self), step):
                block = self.canonical[start : start + step]
                acc.add(_features(mapper, block, [CHEMNET])[CHEMNET])
            return acc.stats()

        return self._cached("fcd", "fcd", compute)


def _kl_subset(n: int) -> np.ndarray:
    if n <= KL_MAX_MOLECULES:
        return np.arange(n)
    return np.sort(np.random.default_rng(KL_SEED).choice(n, KL_MAX_MOLECULES, replace=False))


def _kl_table(feats: dict) -> np.ndarray:
    fps = feats["morgan4096"]
    internal = max_tanimoto(fps, fps, exclude_self=True) if len(fps) else np.zeros(0)
    return np.column_stack([feats["kl_descriptors"], internal])


def _count_items(values: Sequence, weights: np.ndarray) -> Counter:
    """Weighted counts of scaffolds (str or None, None dropped) or fragment lists."""
    counts: Counter = Counter()
    for value, weight in zip(values, weights, strict=True):
        if value is None:
            continue
        for item in [value] if isinstance(value, str) else value:
            counts[item] += int(weight)
    return counts


# --------------------------------------------------------------------------- metric functions
def cosine_similarity_counts(a: dict[str, int], b: dict[str, int]) -> float:
    """MOSES ``cos_similarity``: cosine of two count vectors keyed by name (absent = 0);
    NaN when either is empty."""
    if not a or not b:
        return math.nan
    dot = sum(count * b.get(key, 0) for key, count in a.items())
    norm_a = math.sqrt(sum(c * c for c in a.values()))
    norm_b = math.sqrt(sum(c * c for c in b.values()))
    return dot / (norm_a * norm_b)


def continuous_kl(reference: np.ndarray, sampled: np.ndarray) -> float:
    """GuacaMol ``continuous_kldiv``: KL(P || Q) of Gaussian KDEs (scipy defaults) evaluated on
    1000 points spanning both sets, each density + 1e-10 and renormalised."""
    from scipy.stats import entropy, gaussian_kde

    grid = np.linspace(
        min(reference.min(), sampled.min()), max(reference.max(), sampled.max()), num=1000
    )
    p = gaussian_kde(reference)(grid) + 1e-10
    q = gaussian_kde(sampled)(grid) + 1e-10
    return float(entropy(p, q))


def discrete_kl(reference: np.ndarray, sampled: np.ndarray) -> float:
    """GuacaMol ``discrete_kldiv``: KL(P || Q) of 10-bin density histograms on the reference's
    bins, each + 1e-10 and renormalised."""
    from scipy.stats import entropy

    p, bins = np.histogram(reference, bins=10, density=True)
    q, _ = np.histogram(sampled, bins=bins, density=True)
    return float(entropy(p + 1e-10, q + 1e-10))


def kl_score_of_tables(reference: np.ndarray, sampled: np.ndarray) -> float:
    """GuacaMol KL score from ``[n, 10]`` tables (9 descriptors + internal similarity):
    ``mean_k exp(-KL_k)``; NaN (with a warning) if a KDE is singular (e.g. a constant column)."""
    if len(reference) < 2 or len(sampled) < 2:
        return math.nan
    kls = []
    for k in range(reference.shape[1]):
        continuous = k < N_CONTINUOUS_KL_DESCRIPTORS or k == len(KL_DESCRIPTORS)
        try:
            kl = (continuous_kl if continuous else discrete_kl)(reference[:, k], sampled[:, k])
        except np.linalg.LinAlgError:
            name = (*KL_DESCRIPTORS, "internal_similarity")[k]
            warnings.warn(f"kl_score is NaN: the {name} KDE is singular", stacklevel=2)
            return math.nan
        kls.append(kl)
    return float(np.mean(np.exp(-np.asarray(kls))))


# --------------------------------------------------------------------------- evaluation
@dataclass
class _Scan:
    """What one pass over the samples leaves: counts, and features per distinct valid molecule."""

    n_samples: int = 0
    n_relaxed: int = 0
    reasons: Counter = field(default_factory=Counter)
    index: dict[str, int] = field(default_factory=dict)
    counts: list[int] = field(default_factory=list)
    feature_parts: list[dict] = field(default_factory=list)

    @property
    def distinct(self) -> list[str]:
        return list(self.index)

    def weights(self) -> np.ndarray:
        return np.asarray(self.counts, np.int64)

    def feature(self, name: str):
        parts = [part[name] for part in self.feature_parts if len(part.get(name, ()))]
        if not parts:
            return np.zeros(0) if name not in ("fragments", "scaffold") else []
        return _concat(parts)


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
            definitions={**GENERAL_DEFINITIONS, **{k: DEFINITIONS[k] for k in self.metrics}},
        )
        return report


def _resolve_metrics(metrics: Collection[str] | None, has_reference: bool) -> list[str]:
    if metrics is None:
        wanted = list(METRICS)
    else:
        if isinstance(metrics, str):
            raise ValueError(f"metrics must be a collection of names, got the string {metrics!r}")
        unknown = sorted(set(metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"metrics: unknown {unknown}; known: {list(METRICS)}")
        wanted = [m for m in METRICS if m in metrics]
    if not has_reference:
        wanted = [m for m in wanted if m not in REFERENCE_METRICS]
    return wanted


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def evaluate(
    generated: Iterable[str | None],
    reference: Reference | Sequence[str] | None = None,
    *,
    metrics: Collection[str] | None = None,
    n_jobs: int = 1,
    keep_table: bool = True,
    on_rows: Callable[[list[tuple]], None] | None = None,
    chunk_size: int = 50_000,
    progress: bool = False,
) -> Evaluation:
    """Evaluate samples (SMILES; None or "" = invalid) against an optional reference.

    Streams ``generated`` in chunks of ``chunk_size``: memory grows with the number of distinct
    valid molecules, not of samples. Per-molecule rows (``TABLE_COLUMNS``; properties of valid
    samples) go to ``on_rows`` chunk by chunk and are kept in ``Evaluation.table`` when
    ``keep_table``. ``metrics=None`` computes every metric the inputs allow (reference metrics
    need a reference; ``fcd`` needs the ``fcd`` extra, else it is absent with a warning).
    ``n_jobs > 1`` runs the per-molecule work (RDKit and ChemNet) on a process pool; the
    results do not depend on ``n_jobs``.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if reference is not None and not isinstance(reference, Reference):
        if isinstance(reference, str):
            raise ValueError("reference must be a Reference or a sequence of SMILES, not a str")
        reference = Reference.from_smiles(reference, n_jobs=n_jobs)
    wanted = _resolve_metrics(metrics, reference is not None)
    notes = []
    if "fcd" in wanted and not frechet.fcd_available():
        warnings.warn(frechet.FCD_MISSING_MESSAGE, stacklevel=2)
        notes.append(frechet.FCD_MISSING_MESSAGE)
        wanted.remove("fcd")
    names = {name for metric in wanted for name in _FEATURES_OF.get(metric, ())}
    table_wanted = keep_table or on_rows is not None
    if table_wanted:
        names.update(TABLE_PROPERTIES)

    scan = _Scan()
    table: list[tuple] | None = [] if keep_table else None
    fcd_acc = frechet.FrechetAccumulator() if "fcd" in wanted else None
    late_counts: Counter = Counter()  # repeats of molecules first seen in an earlier chunk
    bar = _progress_bar(progress)
    with ParallelMap(n_jobs) as mapper:
        for chunk in _chunks(generated, chunk_size):
            first_new = len(scan.index)
            classified = _concat(mapper.map(classify_smiles, chunk))
            distinct_ids = _count_chunk(scan, classified, first_new, late_counts)
            new = scan.distinct[first_new:]
            features = _features(mapper, new, names)
            if CHEMNET in features:  # weighted into the running moments, not kept
                fcd_acc.add(features.pop(CHEMNET), scan.weights()[first_new:])
            scan.feature_parts.append(features)
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
            fcd_acc.add(_features(mapper, late, [CHEMNET])[CHEMNET], weights)
        if bar is not None:
            bar.close()
        if scan.n_samples == 0:
            raise ValueError("generated: no samples")
        values = _metric_values(scan, reference, wanted, fcd_acc, mapper)
    n_valid = int(sum(scan.counts))
    return Evaluation(
        metrics=values,
        n_samples=scan.n_samples,
        n_valid=n_valid,
        n_relaxed_valid=scan.n_relaxed,
        n_distinct=len(scan.index),
        reasons=dict(scan.reasons),
        reference_size=None if reference is None else len(reference),
        table=table,
        notes=notes,
        distinct=scan.distinct,
        weights=scan.weights(),
        properties={p: scan.feature(p) for p in TABLE_PROPERTIES if p in names},
    )


def compute_metrics(
    generated: Sequence[str | None],
    reference: Reference | Sequence[str] | None = None,
    *,
    metrics: Collection[str] | None = None,
    n_jobs: int = 1,
) -> dict[str, float]:
    """``{metric: value}`` for the requested ``metrics`` (all available when None); see
    :data:`DEFINITIONS`. Reference metrics are absent without a reference, ``fcd`` without the
    ``fcd`` extra. Values are NaN when undefined (e.g. uniqueness with no valid sample)."""
    return evaluate(generated, reference, metrics=metrics, n_jobs=n_jobs, keep_table=False).metrics


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
        scan.counts[idx] += 1
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


def _metric_values(
    scan: _Scan,
    reference: Reference | None,
    wanted: list[str],
    fcd_acc: frechet.FrechetAccumulator | None,
    mapper: ParallelMap,
) -> dict[str, float]:
    weights = scan.weights()
    n_valid = int(weights.sum())
    n_distinct = len(weights)
    nan = math.nan

    def weighted_mean(values: np.ndarray) -> float:
        return float(values @ weights / n_valid) if n_valid else nan

    powers = {"intdiv1": 1, "intdiv2": 2}
    wanted_powers = [p for metric, p in powers.items() if metric in wanted]
    intdiv = {}
    if wanted_powers and n_valid:  # intdiv1 and intdiv2 share one pass over the pairs
        fps = scan.feature("morgan")
        rows = mean_tanimoto_powers(fps, fps, wanted_powers, weights)
        intdiv = dict(zip(wanted_powers, rows, strict=True))

    out: dict[str, float] = {}
    for metric in wanted:
        if metric == "validity":
            out[metric] = n_valid / scan.n_samples
        elif metric == "validity_relaxed":
            out[metric] = scan.n_relaxed / scan.n_samples
        elif metric == "uniqueness":
            out[metric] = n_distinct / n_valid if n_valid else nan
        elif metric == "novelty":
            novel = sum(s not in reference.canonical_set for s in scan.index)
            out[metric] = novel / n_distinct if n_distinct else nan
        elif metric in ("qed", "logp", "sa"):
            out[metric] = weighted_mean(scan.feature(metric))
        elif metric == "logp_normalized":
            out[metric] = weighted_mean(normalized_logp(scan.feature("logp")))
        elif metric == "sa_normalized":
            out[metric] = weighted_mean(normalized_sa(scan.feature("sa")))
        elif metric in powers:
            out[metric] = 1.0 - weighted_mean(intdiv[powers[metric]]) if n_valid else nan
        elif metric == "snn":
            fps = scan.feature("morgan")
            best = max_tanimoto(fps, reference.feature("morgan", mapper)) if n_valid else None
            out[metric] = weighted_mean(best) if n_valid else nan
        elif metric == "fcd":
            out[metric] = (
                frechet.frechet_distance(fcd_acc.stats(), reference.fcd_stats(mapper))
                if fcd_acc.n >= 2 and len(reference) >= 2
                else nan
            )
        elif metric in ("frag", "scaf"):
            name = "fragments" if metric == "frag" else "scaffold"
            generated_counts = _count_items(scan.feature(name), weights)
            out[metric] = cosine_similarity_counts(generated_counts, reference.counts(name, mapper))
        elif metric == "kl_score":
            sampled = {name: scan.feature(name) for name in ("kl_descriptors", "morgan4096")}
            keep = _kl_subset(n_distinct)
            sampled = {name: values[keep] for name, values in sampled.items()}
            out[metric] = kl_score_of_tables(reference.kl_statistics(mapper), _kl_table(sampled))
    return out
