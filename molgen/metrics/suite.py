"""The metrics: one :class:`Metric` record each, grouped into a :class:`Benchmark`.

A record is everything molgen knows about a metric: its key, its exact definition (the report's
``definitions``), the per-molecule features it reads (computed once per distinct molecule and
shared by every metric that names them), the reference set it compares with, if any, and the
function computing it from the :class:`Samples` (and that reference). Adding a metric is adding
a record; another benchmark (e.g. MOSES' ``FCD/Test``, ``SNN/TestSF``, ...) is another list of
records over the same features, whose ``reference`` fields name the sets it needs (``"test"``,
``"test_scaffolds"``, ``"train"``).

A benchmark also builds its own reference sets from what the user gives
(:attr:`Benchmark.load_references`) and words its own report (title, counts, extra sections);
:data:`molgen.metrics.benchmarks.BENCHMARKS` holds every benchmark by name.

Definitions shared by every metric (the ``definitions`` block of a report repeats them):

* **strict-valid**: RDKit parses and sanitizes the sample AND it is one connected fragment;
  **relaxed-valid**: it sanitizes (fragments allowed). ``None`` and ``""`` samples are invalid.
* **canonical**: ``Chem.MolToSmiles(mol, isomericSmiles=False)`` of the molecule
  ``Chem.MolFromSmiles`` gives (explicit hydrogens removed), atom maps and isotopes cleared;
  duplicates are equal canonical SMILES (``[2H]C([2H])([2H])[2H]`` is ``C``). The reference is
  canonicalised the same way and reduced to its distinct strict-valid molecules.
* Properties and fingerprints of a sample are those of the molecule parsed from its canonical
  SMILES, so they are computed once per distinct molecule and weighted by its occurrences
  wherever a metric includes duplicates.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from molgen.chem.files import read_smiles_file
from molgen.chem.mol import MAX_SMILES_LENGTH
from molgen.chem.properties import (
    KL_DESCRIPTORS,
    N_CONTINUOUS_KL_DESCRIPTORS,
    classify_smiles,
    normalized_logp,
    normalized_sa,
)
from molgen.errors import InputError
from molgen.metrics import frechet
from molgen.metrics.features import (
    CHEMNET,
    KL_FEATURES,
    NSPDK,
    count_items,
    kl_subset,
    kl_table,
)
from molgen.metrics.nspdk import mean_nspdk_vector, nspdk_mmd_of_means
from molgen.metrics.reference import Reference
from molgen.metrics.similarity import max_tanimoto, mean_tanimoto_powers
from molgen.parallel import ProcessPool

__all__ = [
    "DEFINITIONS",
    "NSPDK_DEFINITION",
    "GENERAL_DEFINITIONS",
    "METRICS",
    "MOLGEN",
    "REFERENCE",
    "REFERENCE_METRICS",
    "Benchmark",
    "LoadReferences",
    "Metric",
    "Samples",
    "continuous_kl",
    "cosine_similarity_counts",
    "discrete_kl",
    "format_value",
    "kl_score_of_tables",
    "molgen_references",
]

#: The name of the one reference set of molgen's benchmark (the training molecules, usually).
REFERENCE = "reference"

GENERAL_DEFINITIONS = {
    "strict_valid": (
        "RDKit parses and sanitizes the molecule, each bond is single, double, triple or "
        f"aromatic, AND it is one connected fragment; a SMILES longer than "
        f"{MAX_SMILES_LENGTH:,} characters is invalid (too_long)"
    ),
    "canonical": (
        "Chem.MolToSmiles(mol, isomericSmiles=False) of the molecule Chem.MolFromSmiles gives "
        "(explicit hydrogens removed as it removes them), atom-map numbers and isotopes "
        "cleared ([2H]C([2H])([2H])[2H] and [13CH4] are C for uniqueness and novelty, as "
        "stereoisomers are one molecule); the reference likewise"
    ),
    "reference": "distinct strict-valid canonical SMILES of the reference file",
    "missing_value": "null in JSON (NaN in Python) when a metric has no molecules to average",
}


@dataclass
class Samples:
    """What a metric sees of the generated samples: counts, the distinct valid canonical SMILES
    (validity and canonical form of the benchmark's ``classify``) with their occurrence counts
    (``weights``) and the rank among valid samples of each one's first occurrence
    (``first_seen``), the features of each distinct molecule that the evaluated metrics asked
    for, and the ChemNet moments (duplicates weighted) when a metric asked for one of
    :data:`~molgen.metrics.features.CHEMNETS`."""

    n_samples: int
    n_relaxed: int
    distinct: list[str]
    weights: np.ndarray  # int64[n_distinct]
    first_seen: np.ndarray  # int64[n_distinct], increasing
    features: dict[str, np.ndarray | list]
    chemnet: frechet.FrechetAccumulator | None
    pool: ProcessPool  # for reference statistics not cached yet
    _shared: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def n_valid(self) -> int:
        return int(self.weights.sum())

    @property
    def n_distinct(self) -> int:
        return len(self.distinct)

    def weighted_mean(self, values: np.ndarray) -> float:
        """Mean over strict-valid samples (duplicates included) of a per-distinct value."""
        return float(values @ self.weights / self.n_valid) if self.n_valid else math.nan

    def shared(self, key: str, compute: Callable[[], object]):
        """``compute()`` once per evaluation for work several metrics share (e.g. one pass over
        the pairs for intdiv1 and intdiv2)."""
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]


#: ``compute(samples, reference)``: the metric's value; NaN when undefined.
Compute = Callable[[Samples, Reference | None], float]


@dataclass(frozen=True)
class Metric:
    """One metric, stated once: ``name`` (its report key), ``definition`` (exact, with sources),
    ``compute`` (how it is computed), ``features`` (per-molecule features it reads from
    :attr:`Samples.features`) and ``reference`` (the name of the reference set it compares with,
    None for a metric of the samples alone)."""

    name: str
    definition: str
    compute: Compute
    features: tuple[str, ...] = ()
    reference: str | None = None

    @property
    def needs_reference(self) -> bool:
        return self.reference is not None


#: ``load(given, *, cache_dir, n_jobs, max_atoms)``: a benchmark's ``{name: Reference}`` from
#: ``given``, which maps some of its reference names to a SMILES file or to SMILES; what a name
#: left out means (no such set, or a default set) is the benchmark's to decide.
LoadReferences = Callable[..., dict[str, Reference]]
ReferenceSource = Path | str | Iterable[str]


def molgen_references(
    given: Mapping[str, ReferenceSource],
    *,
    cache_dir: Path | None = None,
    n_jobs: int | None = 1,
    max_atoms: int | None = None,
) -> dict[str, Reference]:
    """molgen's one reference set (:data:`REFERENCE`) from a SMILES file or SMILES, when
    given; none otherwise (the metrics against it are then left out)."""
    source = given.get(REFERENCE)
    if source is None:
        return {}
    smiles = read_smiles_file(source) if isinstance(source, (str, Path)) else source
    reference = Reference.from_smiles(smiles, cache_dir, n_jobs=n_jobs, max_atoms=max_atoms)
    return {REFERENCE: reference}


def format_value(value: float) -> str:
    """A metric's value as report.md shows it: 4 decimals, ``n/a`` when undefined."""
    return f"{value:.4f}" if math.isfinite(value) else "n/a"


def _no_sections(metrics: Mapping[str, float]) -> list[str]:
    return []


@dataclass(frozen=True)
class Benchmark:
    """A named, ordered list of metrics (the report's order), with the definitions they share:
    ``classify`` (which samples are valid and their canonical form; the contract of
    :func:`~molgen.chem.properties.classify_smiles`, a module-level function so the process
    pool can send it) and ``general_definitions`` (the report's words for them).

    What else differs from one benchmark to another: ``load_references`` builds its reference
    sets (:data:`LoadReferences`); ``run_reference`` names the set a run's training molecules
    stand for when the user gives none (None: the benchmark has its own sets);
    ``plot_reference`` the set the property plots compare with; report.md's ``report_title``,
    its ``report_counts`` line (a :meth:`str.format` template of ``n_samples``, ``n_valid``,
    ``n_relaxed_valid``, ``n_distinct`` and ``reference``, the reference's size or "none") and
    ``report_sections``, markdown lines written from the metric values before the metric
    table."""

    name: str
    metrics: tuple[Metric, ...]
    classify: Callable[[list], list[tuple]] = classify_smiles
    general_definitions: dict[str, str] = field(default_factory=lambda: dict(GENERAL_DEFINITIONS))
    load_references: LoadReferences = molgen_references
    run_reference: str | None = REFERENCE
    plot_reference: str = REFERENCE
    report_title: str = "molgen evaluation"
    report_counts: str = (
        "{n_samples} samples, {n_valid} strict-valid, {n_relaxed_valid} sanitizable, "
        "{n_distinct} distinct valid; reference: {reference}."
    )
    report_sections: Callable[[Mapping[str, float]], list[str]] = _no_sections

    def __post_init__(self) -> None:
        names = [metric.name for metric in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"benchmark {self.name}: duplicate metric names in {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(metric.name for metric in self.metrics)

    @property
    def references(self) -> frozenset[str]:
        """Names of the reference sets its metrics compare with."""
        return frozenset(m.reference for m in self.metrics if m.reference is not None)

    def __getitem__(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)

    def select(self, names: Collection[str] | None, references: Collection[str]) -> list[Metric]:
        """The metrics named (all when None), in benchmark order, without those whose reference
        set is not among ``references``. Raises InputError for unknown names."""
        if names is None:
            wanted = list(self.metrics)
        else:
            if isinstance(names, str):
                raise InputError(f"metrics must be a collection of names, got the string {names!r}")
            unknown = sorted(set(names) - set(self.names))
            if unknown:
                raise InputError(f"metrics: unknown {unknown}; known: {list(self.names)}")
            wanted = [metric for metric in self.metrics if metric.name in names]
        return [m for m in wanted if m.reference is None or m.reference in references]


# --------------------------------------------------------------------------- score functions
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


#: The NSPDK MMD's definition; ``samples`` and ``reference`` name the two sets.
NSPDK_DEFINITION = (
    "GDSS's NSPDK MMD (evaluation/mmd.py compute_nspdk_mmd): mean K(X,X) + mean K(Y,Y) - 2 mean "
    "K(X,Y) of the linear kernel on EDeN NSPDK vectors (r = d = 4, 2^16 hashed features, "
    "normalised per (r,d) and overall; atom label = element symbol, bond label = "
    "int(GetBondTypeAsDouble()), aromatic 1; labels hashed with BLAKE2b, not Python's "
    "per-process string hash) of the {samples} (duplicates included), X, and {reference}, Y"
)


# --------------------------------------------------------------------------- computations
def _validity(samples: Samples, reference: Reference | None) -> float:
    return samples.n_valid / samples.n_samples


def _validity_relaxed(samples: Samples, reference: Reference | None) -> float:
    return samples.n_relaxed / samples.n_samples


def _uniqueness(samples: Samples, reference: Reference | None) -> float:
    return samples.n_distinct / samples.n_valid if samples.n_valid else math.nan


def _novelty(samples: Samples, reference: Reference) -> float:
    novel = sum(s not in reference.canonical_set for s in samples.distinct)
    return novel / samples.n_distinct if samples.n_distinct else math.nan


def _mean_of(feature: str, transform: Callable[[np.ndarray], np.ndarray] | None = None) -> Compute:
    """The weighted mean of a per-molecule feature (optionally transformed)."""

    def compute(samples: Samples, reference: Reference | None) -> float:
        values = samples.features[feature]
        return samples.weighted_mean(values if transform is None else transform(values))

    return compute


def _internal_diversity(p: int) -> Compute:
    """MOSES IntDivp; IntDiv1 and IntDiv2 share one pass over the pairs."""

    def compute(samples: Samples, reference: Reference | None) -> float:
        if not samples.n_valid:
            return math.nan
        fps = samples.features["morgan"]
        rows = samples.shared(
            "tanimoto_powers", lambda: mean_tanimoto_powers(fps, fps, (1, 2), samples.weights)
        )
        return 1.0 - samples.weighted_mean(rows[p - 1])

    return compute


def _snn(samples: Samples, reference: Reference) -> float:
    if not samples.n_valid:
        return math.nan
    nearest = max_tanimoto(samples.features["morgan"], reference.feature("morgan", samples.pool))
    return samples.weighted_mean(nearest)


def _fcd(samples: Samples, reference: Reference) -> float:
    if samples.chemnet.n < 2 or len(reference) < 2:
        return math.nan
    return frechet.frechet_distance(samples.chemnet.stats(), reference.fcd_stats(samples.pool))


def _nspdk(samples: Samples, reference: Reference) -> float:
    if not samples.n_valid:
        return math.nan
    sampled = mean_nspdk_vector(samples.features[NSPDK], samples.weights)
    return nspdk_mmd_of_means(sampled, reference.mean_nspdk(samples.pool))


def _count_similarity(feature: str) -> Compute:
    """MOSES Frag / Scaf: cosine of weighted fragment or scaffold counts."""

    def compute(samples: Samples, reference: Reference) -> float:
        counts = count_items(samples.features[feature], samples.weights)
        return cosine_similarity_counts(counts, reference.counts(feature, samples.pool))

    return compute


def _kl_score(samples: Samples, reference: Reference) -> float:
    keep = kl_subset(samples.n_distinct)
    sampled = {name: samples.features[name][keep] for name in KL_FEATURES}
    return kl_score_of_tables(reference.kl_statistics(samples.pool), kl_table(sampled))


#: molgen's metrics, in report order.
MOLGEN = Benchmark(
    "molgen",
    (
        Metric("validity", "strict-valid samples / all samples", _validity),
        Metric(
            "validity_relaxed",
            "sanitizable samples (disconnected fragments allowed) / all samples",
            _validity_relaxed,
        ),
        Metric(
            "uniqueness",
            "distinct canonical SMILES among strict-valid samples / strict-valid samples",
            _uniqueness,
        ),
        Metric(
            "novelty",
            "distinct strict-valid canonical SMILES not in the reference / distinct strict-valid "
            "canonical SMILES",
            _novelty,
            reference=REFERENCE,
        ),
        Metric(
            "qed",
            "mean RDKit QED (rdkit.Chem.QED.qed) over strict-valid samples, duplicates included",
            _mean_of("qed"),
            features=("qed",),
        ),
        Metric(
            "logp",
            "mean Crippen MolLogP over strict-valid samples, duplicates included",
            _mean_of("logp"),
            features=("logp",),
        ),
        Metric(
            "sa",
            "mean synthetic accessibility (RDKit Contrib SA_Score sascorer, 1 easy .. 10 hard) "
            "over strict-valid samples, duplicates included",
            _mean_of("sa"),
            features=("sa",),
        ),
        Metric(
            "logp_normalized",
            "mean of MolGAN's normalised logP, clip((logP + 2.12178879609) / (6.0429063424 + "
            "2.12178879609), 0, 1) (MolGAN utils/molecular_metrics.py), over strict-valid samples",
            _mean_of("logp", normalized_logp),
            features=("logp",),
        ),
        Metric(
            "sa_normalized",
            "mean of MolGAN's normalised SA, clip((SA - 5) / (1.5 - 5), 0, 1) (MolGAN "
            "utils/molecular_metrics.py), over strict-valid samples",
            _mean_of("sa", normalized_sa),
            features=("sa",),
        ),
        Metric(
            "intdiv1",
            "MOSES internal diversity, p=1: 1 - mean_x mean_y T(x,y) over strict-valid samples "
            "(duplicates and x=y pairs included), T = Tanimoto of Morgan r=2 1024-bit fingerprints",
            _internal_diversity(1),
            features=("morgan",),
        ),
        Metric(
            "intdiv2",
            "MOSES internal diversity, p=2: 1 - mean_x (mean_y T(x,y)^2)^(1/2), same sets and "
            "fingerprints as intdiv1",
            _internal_diversity(2),
            features=("morgan",),
        ),
        Metric(
            "snn",
            "MOSES SNN: mean over strict-valid samples of the max Tanimoto (Morgan r=2, 1024 bits) "
            "to any reference molecule",
            _snn,
            features=("morgan",),
            reference=REFERENCE,
        ),
        Metric(
            "fcd",
            "Frechet ChemNet Distance (Preuer et al. 2018; fcd package ChemNet, 512-d activations) "
            "between strict-valid canonical samples (duplicates included) and the reference",
            _fcd,
            features=(CHEMNET,),
            reference=REFERENCE,
        ),
        Metric(
            "frag",
            "MOSES Frag: cosine similarity of BRICS fragment counts (FragmentOnBRICSBonds) of "
            "strict-valid samples (duplicates included) and of the reference",
            _count_similarity("fragments"),
            features=("fragments",),
            reference=REFERENCE,
        ),
        Metric(
            "scaf",
            "MOSES Scaf: cosine similarity of Bemis-Murcko scaffold counts (scaffolds with >= 2 "
            "rings) of strict-valid samples (duplicates included) and of the reference",
            _count_similarity("scaffold"),
            features=("scaffold",),
            reference=REFERENCE,
        ),
        Metric(
            "kl_score",
            "GuacaMol KL score: mean over 9 physchem descriptors (continuous: Gaussian KDE on a "
            "1000-point grid; integer: 10-bin histogram) and the internal similarity (max "
            "Tanimoto to another molecule, Morgan r=2 4096 bits) of exp(-KL(reference || "
            "samples)); distinct strict-valid samples vs the reference, each capped at 10000 "
            "molecules by a seeded random subset",
            _kl_score,
            features=KL_FEATURES,
            reference=REFERENCE,
        ),
        Metric(
            "nspdk",
            NSPDK_DEFINITION.format(samples="strict-valid samples", reference="the reference"),
            _nspdk,
            features=(NSPDK,),
            reference=REFERENCE,
        ),
    ),
)

#: Every metric key of molgen's benchmark with its exact definition and source.
DEFINITIONS: dict[str, str] = {metric.name: metric.definition for metric in MOLGEN.metrics}
METRICS = MOLGEN.names
REFERENCE_METRICS = frozenset(metric.name for metric in MOLGEN.metrics if metric.needs_reference)
