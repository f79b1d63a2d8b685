"""The MOSES benchmark (Polykovskiy et al. 2020, molecularsets/moses 0.3.1 ``get_all_metrics``)
as one more :class:`~molgen.metrics.suite.Benchmark` over molgen's shared features.

Keys, definitions and reference sets are MOSES': validity and the canonical form of
:mod:`molgen.chem.moses`, the test, scaffold-test and training sets of the ``molsets`` wheel
(``moses/dataset/data/{test,test_scaffolds,train}.csv.gz``, read by path) unless overridden.
The published baseline rows are MOSES' README table (repository molecularsets/moses, README
"Metrics" table): mean ± std over 3 runs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from molgen.chem.files import read_smiles_file
from molgen.chem.moses import classify_smiles_moses, moses_file, read_moses_split
from molgen.metrics import frechet
from molgen.metrics.features import CHEMNET_MOSES
from molgen.metrics.reference import Reference
from molgen.metrics.suite import (
    Benchmark,
    Compute,
    Metric,
    ReferenceSource,
    Samples,
    _count_similarity,
    _internal_diversity,
    _mean_of,
    _novelty,
    _snn,
    _validity,
    format_value,
)

__all__ = [
    "MOSES",
    "MOSES_BASELINES",
    "MOSES_REFERENCES",
    "MOSES_TABLE_COLUMNS",
    "moses_references",
    "moses_table",
    "read_moses_split",
    "shipped_statistics",
    "wasserstein_1",
]

#: The reference sets MOSES compares with: report-key suffix -> name.
MOSES_REFERENCES = {"Test": "test", "TestSF": "test_scaffolds", "train": "train"}

#: Columns of MOSES' README table, in its order.
MOSES_TABLE_COLUMNS = (
    "valid",
    "unique@1000",
    "unique@10000",
    "FCD/Test",
    "FCD/TestSF",
    "SNN/Test",
    "SNN/TestSF",
    "Frag/Test",
    "Frag/TestSF",
    "Scaf/Test",
    "Scaf/TestSF",
    "IntDiv",
    "IntDiv2",
    "Filters",
    "Novelty",
)

#: MOSES' README table (molecularsets/moses README, "Metrics"): (mean, std) per column of
#: :data:`MOSES_TABLE_COLUMNS`, over 3 runs.
MOSES_BASELINES: dict[str, tuple[tuple[float, float], ...]] = {
    "CharRNN": (
        (0.9748, 0.0264),
        (1.0, 0.0),
        (0.9994, 0.0003),
        (0.0732, 0.0247),
        (0.5204, 0.0379),
        (0.6015, 0.0206),
        (0.5649, 0.0142),
        (0.9998, 0.0002),
        (0.9983, 0.0003),
        (0.9242, 0.0058),
        (0.1101, 0.0081),
        (0.8562, 0.0005),
        (0.8503, 0.0005),
        (0.9943, 0.0034),
        (0.8419, 0.0509),
    ),  # fmt: skip
    "AAE": (
        (0.9368, 0.0341),
        (1.0, 0.0),
        (0.9973, 0.002),
        (0.5555, 0.2033),
        (1.0572, 0.2375),
        (0.6081, 0.0043),
        (0.5677, 0.0045),
        (0.991, 0.0051),
        (0.9905, 0.0039),
        (0.9022, 0.0375),
        (0.0789, 0.009),
        (0.8557, 0.0031),
        (0.8499, 0.003),
        (0.996, 0.0006),
        (0.7931, 0.0285),
    ),  # fmt: skip
    "VAE": (
        (0.9767, 0.0012),
        (1.0, 0.0),
        (0.9984, 0.0005),
        (0.099, 0.0125),
        (0.567, 0.0338),
        (0.6257, 0.0005),
        (0.5783, 0.0008),
        (0.9994, 0.0001),
        (0.9984, 0.0003),
        (0.9386, 0.0021),
        (0.0588, 0.0095),
        (0.8558, 0.0004),
        (0.8498, 0.0004),
        (0.997, 0.0002),
        (0.6949, 0.0069),
    ),  # fmt: skip
    "JTN-VAE": (
        (1.0, 0.0),
        (1.0, 0.0),
        (0.9996, 0.0003),
        (0.3954, 0.0234),
        (0.9382, 0.0531),
        (0.5477, 0.0076),
        (0.5194, 0.007),
        (0.9965, 0.0003),
        (0.9947, 0.0002),
        (0.8964, 0.0039),
        (0.1009, 0.0105),
        (0.8551, 0.0034),
        (0.8493, 0.0035),
        (0.976, 0.0016),
        (0.9143, 0.0058),
    ),  # fmt: skip
    "LatentGAN": (
        (0.8966, 0.0029),
        (1.0, 0.0),
        (0.9968, 0.0002),
        (0.2968, 0.0087),
        (0.8281, 0.0117),
        (0.5371, 0.0004),
        (0.5132, 0.0002),
        (0.9986, 0.0004),
        (0.9972, 0.0007),
        (0.8867, 0.0009),
        (0.1072, 0.0098),
        (0.8565, 0.0007),
        (0.8505, 0.0006),
        (0.9735, 0.0006),
        (0.9498, 0.0006),
    ),  # fmt: skip
}

MOSES_DEFINITIONS = {
    "validity": "MOSES valid (moses.utils.get_mol): Chem.MolFromSmiles parses and sanitizes "
    "the sample; disconnected fragments allowed, '' invalid (molgen's benchmark: one fragment)",
    "canonical": "MOSES canonic_smiles: Chem.MolToSmiles(mol), stereo kept (molgen's benchmark "
    "drops it); every metric but valid is over the valid samples' canonical SMILES, duplicates "
    "included unless a definition says otherwise",
    "reference": "test (Test), test_scaffolds (TestSF): the distinct MOSES-valid canonical "
    "SMILES of each file; train: the file's strings as written (MOSES' novelty compares with "
    "them, not canonicalised); by default MOSES' sets from the molsets 0.3.1 wheel "
    "(moses/dataset/data/*.csv.gz, which have no duplicates)",
    "missing_value": "null in JSON (NaN in Python) when a metric has no molecules to average",
}


def wasserstein_1(u: np.ndarray, v: np.ndarray, v_weights: np.ndarray | None = None) -> float:
    r"""Wasserstein-1 distance :math:`\int |U(x) - V(x)| dx` of two 1-d empirical distributions
    (``v`` optionally weighted by occurrence counts); equal to
    ``scipy.stats.wasserstein_distance(u, v, v_weights=v_weights)``."""
    u = np.asarray(u, np.float64)
    v = np.asarray(v, np.float64)
    vw = np.ones(len(v)) if v_weights is None else np.asarray(v_weights, np.float64)
    grid = np.sort(np.concatenate([u, v]))
    u_cdf = np.searchsorted(np.sort(u), grid[:-1], side="right") / len(u)
    v_order = np.argsort(v)
    v_cum = np.concatenate([[0.0], np.cumsum(vw[v_order])])
    v_cdf = v_cum[np.searchsorted(v[v_order], grid[:-1], side="right")] / v_cum[-1]
    return float(np.sum(np.abs(u_cdf - v_cdf) * np.diff(grid)))


def _unique_at(k: int) -> Compute:
    """MOSES ``fraction_unique(gen, k)``: distinct canonical SMILES among the first k valid
    samples / their number (all valid samples, with a warning, when there are fewer)."""

    def compute(samples: Samples, reference: Reference | None) -> float:
        if not samples.n_valid:
            return math.nan
        if samples.n_valid < k:
            warnings.warn(f"unique@{k}: only {samples.n_valid} valid samples", stacklevel=2)
        return int((samples.first_seen < k).sum()) / min(k, samples.n_valid)

    return compute


def _fcd_moses(samples: Samples, reference: Reference) -> float:
    if samples.chemnet.n < 2 or len(reference) < 2:
        return math.nan
    ref = reference.fcd_stats(samples.pool, CHEMNET_MOSES)
    return frechet.frechet_distance(ref, samples.chemnet.stats())


def _wasserstein(feature: str) -> Compute:
    def compute(samples: Samples, reference: Reference) -> float:
        if not samples.n_valid:
            return math.nan
        ref = reference.feature(feature, samples.pool)
        return wasserstein_1(ref, samples.features[feature], samples.weights)

    return compute


def _per_test_set(suffix: str) -> tuple[Metric, ...]:
    """FCD, SNN, Frag and Scaf against one test set."""
    name = MOSES_REFERENCES[suffix]
    return (
        Metric(
            f"FCD/{suffix}",
            f"MOSES FCD (fcd_torch): Frechet distance of ChemNet activations (fcd's weights, "
            f"fcd_torch's encoding: SMILES canonicalised again, read up to the first '.', 350 "
            f"tokens) of the valid samples (duplicates included) and of {name}",
            _fcd_moses,
            features=(CHEMNET_MOSES,),
            reference=name,
        ),
        Metric(
            f"SNN/{suffix}",
            f"MOSES SNN: mean over valid samples of the max Tanimoto (Morgan r=2, 1024 bits) to "
            f"any molecule of {name}",
            _snn,
            features=("morgan",),
            reference=name,
        ),
        Metric(
            f"Frag/{suffix}",
            f"MOSES Frag: cosine similarity of BRICS fragment counts of the valid samples "
            f"(duplicates included) and of {name}",
            _count_similarity("fragments"),
            features=("fragments",),
            reference=name,
        ),
        Metric(
            f"Scaf/{suffix}",
            f"MOSES Scaf: cosine similarity of Bemis-Murcko scaffold counts (scaffolds with >= 2 "
            f"rings) of the valid samples (duplicates included) and of {name}",
            _count_similarity("scaffold"),
            features=("scaffold",),
            reference=name,
        ),
    )


def _property_distance(key: str, feature: str, what: str) -> Metric:
    return Metric(
        key,
        f"MOSES WassersteinMetric: Wasserstein-1 distance between the {what} of the valid "
        f"samples (duplicates included) and of the test set",
        _wasserstein(feature),
        features=(feature,),
        reference="test",
    )


def shipped_statistics(split: str, n_molecules: int) -> dict[str, object] | None:
    """The statistics MOSES ships for its own ``test`` or ``test_scaffolds`` set
    (``moses/dataset/data/{split}_stats.npz``, what ``get_all_metrics`` uses when it is given no
    test set), under :class:`~molgen.metrics.reference.Reference`'s statistic names; None, with a
    warning naming the file, when it cannot be read or does not describe ``n_molecules``
    molecules (the statistics are then computed from the SMILES)."""
    path = moses_file(f"dataset/data/{split}_stats.npz")
    try:
        # The file holds pickled Counters; it comes from the installed wheel, trusted as its code.
        with np.load(path, allow_pickle=True) as data:
            stats = data["stats"].item()
        fps = np.asarray(stats["SNN"]["fps"])
        out = {
            f"fcd_{CHEMNET_MOSES}": frechet.FrechetStats(
                np.asarray(stats["FCD"]["mu"], np.float64),
                np.asarray(stats["FCD"]["sigma"], np.float64),
                n_molecules,
            ),
            "morgan": np.packbits(fps.astype(bool), axis=1),  # molgen's rows: packed 1024 bits
            "fragments_counts": dict(stats["Frag"]["frag"]),
            "scaffold_counts": dict(stats["Scaf"]["scaf"]),
        }
        for key, feature in (("logP", "logp"), ("SA", "sa"), ("QED", "qed"), ("weight", "weight")):
            out[feature] = np.asarray(stats[key]["values"], np.float64)
        rows = {len(fps), *(len(out[f]) for f in ("logp", "sa", "qed", "weight"))}
        if rows != {n_molecules} or fps.shape[1:] != (1024,):
            raise ValueError(f"rows {sorted(rows)} for {n_molecules} molecules")
    except Exception as exc:  # any failure: compute the statistics instead
        warnings.warn(f"{path}: cannot use MOSES' statistics ({exc}); computing them", stacklevel=3)
        return None
    return out


def moses_references(
    files: dict[str, Path | Sequence[str] | None],
    *,
    cache_dir: Path | None = None,
    n_jobs: int | None = 1,
    shipped: bool = True,
) -> dict[str, Reference]:
    """``{name: Reference}`` for the names of :data:`MOSES_REFERENCES` given in ``files`` (a
    SMILES file, a list of SMILES, or None for MOSES' own set), canonicalised as MOSES does and
    cached by content under ``cache_dir``; except ``train``, whose distinct strings are kept as
    written: MOSES' novelty is the only metric that reads it, and compares with them so.

    With ``shipped`` (the default), MOSES' own test and scaffold-test sets come with the
    statistics MOSES ships for them (:func:`shipped_statistics`), as ``get_all_metrics`` uses
    them: no statistic of those sets is computed, where computing them takes about an hour on
    one core (the ChemNet activations of 352,000 molecules)."""
    out = {}
    for name, given in files.items():
        if name not in MOSES_REFERENCES.values():
            raise ValueError(f"unknown MOSES reference {name!r}")
        if given is None:
            smiles = read_moses_split(name)
            stats = shipped and name != "train" and shipped_statistics(name, len(smiles))
            if stats:  # MOSES' strings as written, as its statistics were computed from them
                out[name] = Reference(smiles, statistics=stats)
                continue
        elif isinstance(given, (str, Path)):
            smiles = read_smiles_file(given)
        else:
            smiles = given
        if name == "train":
            lines = list(smiles)
            out[name] = Reference(list(dict.fromkeys(lines)), n_input=len(lines))
            continue
        out[name] = Reference.from_smiles(
            smiles, cache_dir, n_jobs=n_jobs, classify=classify_smiles_moses
        )
    return out


def _load_references(
    given: Mapping[str, ReferenceSource],
    *,
    cache_dir: Path | None = None,
    n_jobs: int | None = 1,
    max_atoms: int | None = None,
) -> dict[str, Reference]:
    """:func:`moses_references` of every MOSES set, MOSES' own where ``given`` has none. The
    sets are read as MOSES reads them, whatever ``max_atoms`` (which caps the samples only)."""
    files = {name: given.get(name) for name in MOSES_REFERENCES.values()}
    return moses_references(files, cache_dir=cache_dir, n_jobs=n_jobs)


def moses_table(metrics: Mapping[str, float]) -> list[str]:
    """report.md's MOSES section: MOSES' README table with these metrics as the first row, its
    published baselines below (mean ± std over 3 runs), then the property distances (not in
    MOSES' table)."""

    def shown(key: str) -> str:
        return format_value(metrics.get(key, math.nan))

    lines = [
        "## MOSES table",
        "",
        "| Model | " + " | ".join(MOSES_TABLE_COLUMNS) + " |",
        "|---|" + "---|" * len(MOSES_TABLE_COLUMNS),
        "| this run | " + " | ".join(shown(key) for key in MOSES_TABLE_COLUMNS) + " |",
    ]
    for model, values in MOSES_BASELINES.items():
        lines.append(f"| {model} | " + " | ".join(f"{m}±{s}" for m, s in values) + " |")
    properties = ("logP", "SA", "QED", "weight")
    lines += [
        "",
        'Baselines: MOSES README table (molecularsets/moses, README "Metrics"), mean±std '
        "over 3 runs, against MOSES' full test sets.",
        "",
        "| " + " | ".join(properties) + " |",
        "|" + "---|" * len(properties),
        "| " + " | ".join(shown(key) for key in properties) + " |",
        "",
        "Wasserstein-1 distances to the test set (MOSES reports them as plots only).",
        "",
    ]
    return lines


#: MOSES' ``get_all_metrics``, key for key, in its order.
MOSES = Benchmark(
    "moses",
    (
        Metric(
            "valid",
            "samples that Chem.MolFromSmiles parses and sanitizes (fragments allowed) / all "
            "samples",
            _validity,
        ),
        Metric(
            "unique@1000",
            "distinct canonical SMILES among the first 1000 valid samples / their number (all "
            "valid samples if fewer, as MOSES does with a warning)",
            _unique_at(1000),
        ),
        Metric(
            "unique@10000",
            "distinct canonical SMILES among the first 10000 valid samples / their number (all "
            "valid samples if fewer)",
            _unique_at(10000),
        ),
        *_per_test_set("Test"),
        *_per_test_set("TestSF"),
        Metric(
            "IntDiv",
            "MOSES internal diversity, p=1: 1 - mean_x mean_y T(x,y) over valid samples "
            "(duplicates and x=y pairs included), T = Tanimoto of Morgan r=2 1024-bit fingerprints",
            _internal_diversity(1),
            features=("morgan",),
        ),
        Metric(
            "IntDiv2",
            "MOSES internal diversity, p=2: 1 - mean_x (mean_y T(x,y)^2)^(1/2), same sets and "
            "fingerprints as IntDiv",
            _internal_diversity(2),
            features=("morgan",),
        ),
        Metric(
            "Filters",
            "MOSES fraction_passes_filters: fraction of valid samples (duplicates included) with "
            "no ring of >= 8 atoms, no formal charge, only C, N, S, O, F, Cl, Br, H atoms, and no "
            "match of MOSES' MCF or PAINS SMARTS (mcf.csv, wehi_pains.csv of the molsets wheel)",
            _mean_of("moses_filters"),
            features=("moses_filters",),
        ),
        _property_distance("logP", "logp", "Crippen MolLogP"),
        _property_distance("SA", "sa", "synthetic accessibility (RDKit Contrib sascorer)"),
        _property_distance("QED", "qed", "QED (rdkit.Chem.QED.qed)"),
        _property_distance("weight", "weight", "molecular weights (Descriptors.MolWt)"),
        Metric(
            "Novelty",
            "MOSES novelty: distinct valid canonical SMILES not among the training set's strings "
            "as written / distinct valid canonical SMILES (MOSES compares with set(train), not "
            "canonicalised, as its published table was computed; a training string that is not "
            "in RDKit's current canonical form never equals a sample; molgen's benchmark "
            "canonicalises its reference)",
            _novelty,
            reference="train",
        ),
    ),
    classify=classify_smiles_moses,
    general_definitions=MOSES_DEFINITIONS,
    load_references=_load_references,
    run_reference=None,  # MOSES compares with its own sets, not a run's training molecules
    plot_reference="test",
    report_title="molgen evaluation (MOSES benchmark)",
    report_counts=(
        "{n_samples} samples, {n_valid} valid (MOSES: sanitizable, fragments allowed), "
        "{n_distinct} distinct valid."
    ),
    report_sections=moses_table,
)
