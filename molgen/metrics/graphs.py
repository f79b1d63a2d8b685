"""The graph-generation literature's metrics for generic graphs (numpy, scipy, networkx; no
RDKit): degree, clustering, orbit and spectral MMD, and V.U.N., reported together by
:func:`evaluate_graphs`.

The MMDs, their statistics and kernels are defined in :mod:`molgen.metrics.graph_mmd`; the
validity tests of the planar and SBM benchmarks in :mod:`molgen.metrics.graph_validity`. Both
modules' public names are also importable from here.

**V.U.N.** (:func:`vun`): the fraction of samples that are valid, unique (the first of their
isomorphism class among the samples) and novel (isomorphic to no training graph). Validity is
:func:`is_planar_graph` for planar graphs and :func:`is_sbm_graph` for SBM graphs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import networkx as nx

from molgen.errors import InputError
from molgen.metrics.graph_mmd import KERNELS as KERNELS
from molgen.metrics.graph_mmd import MMD_STATISTICS as MMD_STATISTICS
from molgen.metrics.graph_mmd import N_ORBITS as N_ORBITS
from molgen.metrics.graph_mmd import clustering_histograms as clustering_histograms
from molgen.metrics.graph_mmd import degree_histograms as degree_histograms
from molgen.metrics.graph_mmd import gaussian_kernel_matrix as gaussian_kernel_matrix
from molgen.metrics.graph_mmd import graph_mmd as graph_mmd
from molgen.metrics.graph_mmd import mmd as mmd
from molgen.metrics.graph_mmd import orbit_counts as orbit_counts
from molgen.metrics.graph_mmd import orbit_features as orbit_features
from molgen.metrics.graph_mmd import spectral_histograms as spectral_histograms
from molgen.metrics.graph_validity import VALIDITY as VALIDITY
from molgen.metrics.graph_validity import is_planar_graph as is_planar_graph
from molgen.metrics.graph_validity import is_sbm_graph as is_sbm_graph
from molgen.metrics.graph_validity import sbm_blocks as sbm_blocks
from molgen.metrics.graph_validity import sbm_wald_pvalue as sbm_wald_pvalue

# The names imported as ``X as X`` above are re-exported: the MMDs and the validity tests live
# in their own modules and stay importable from here, where the graph metrics began. They stay
# out of __all__ so the API reference documents each object once, at home.
__all__ = [
    "GRAPH_BENCHMARKS",
    "GRAPH_DEFINITIONS",
    "GraphEvaluation",
    "evaluate_graphs",
    "isomorphism_classes",
    "vun",
]

#: The benchmarks :func:`evaluate_graphs` knows: validity tests, or the kernel choice alone.
GRAPH_BENCHMARKS = (*VALIDITY, "community_small")


# --------------------------------------------------------------------- uniqueness and novelty


def isomorphism_classes(graphs: Sequence[nx.Graph]) -> list[int]:
    """For each graph, the index of the first graph isomorphic to it (itself if none before).
    Graphs are compared exactly (``nx.is_isomorphic``) only within groups of equal node and
    edge counts and Weisfeiler-Lehman hash, which isomorphic graphs always share."""
    first: list[int] = []
    buckets: dict[tuple, list[int]] = {}
    for i, g in enumerate(graphs):
        bucket = buckets.setdefault(_hash(g), [])
        match = next((j for j in bucket if nx.is_isomorphic(g, graphs[j])), None)
        if match is None:
            bucket.append(i)
        first.append(i if match is None else match)
    return first


def _hash(graph: nx.Graph) -> tuple:
    with warnings.catch_warnings():  # networkx 3.5 changed its hashes; none is stored
        warnings.simplefilter("ignore", UserWarning)
        wl = nx.weisfeiler_lehman_graph_hash(graph, iterations=3)
    return graph.number_of_nodes(), graph.number_of_edges(), wl


def _in_set(graphs: Sequence[nx.Graph], known: Sequence[nx.Graph]) -> list[bool]:
    """For each graph, whether it is isomorphic to one of ``known``."""
    buckets: dict[tuple, list[nx.Graph]] = {}
    for g in known:
        buckets.setdefault(_hash(g), []).append(g)
    return [any(nx.is_isomorphic(g, h) for h in buckets.get(_hash(g), ())) for g in graphs]


def vun(
    generated: Sequence[nx.Graph],
    train: Sequence[nx.Graph] | None = None,
    validity: Callable[[nx.Graph], bool] | None = None,
) -> dict[str, float]:
    """DiGress's fractions of the generated graphs (all over ``len(generated)``):

    - ``uniqueness``: graphs that are the first of their isomorphism class;
    - ``novelty`` (with ``train``): graphs isomorphic to no training graph;
    - ``unique_novel`` (with ``train``): unique and novel;
    - ``validity`` (with ``validity``): graphs that pass it;
    - ``vun`` (with both): valid, unique and novel.
    """
    n = len(generated)
    if n == 0:
        raise InputError("no generated graphs")
    first = isomorphism_classes(generated)
    unique = [first[i] == i for i in range(n)]
    out = {"uniqueness": sum(unique) / n}
    novel = None
    if train is not None:
        novel = _in_set(generated, train)
        novel = [not seen for seen in novel]
        out["novelty"] = sum(novel) / n
        out["unique_novel"] = sum(u and v for u, v in zip(unique, novel, strict=True)) / n
    if validity is not None:
        valid = [bool(validity(g)) for g in generated]
        out["validity"] = sum(valid) / n
        if novel is not None:
            out["vun"] = (
                sum(a and b and c for a, b, c in zip(valid, unique, novel, strict=True)) / n
            )
    return out


# -------------------------------------------------------------------------------- the report

#: The definition of each key :func:`evaluate_graphs` reports.
GRAPH_DEFINITIONS = {
    "degree_mmd": "squared MMD of the degree histograms (Gaussian kernel on {distance})",
    "clustering_mmd": "squared MMD of the 100-bin clustering-coefficient histograms "
    "(Gaussian kernel on {distance})",
    "orbit_mmd": "squared MMD of the mean 4-node orbit counts (Gaussian kernel, sigma 30, "
    "{orbit_distance})",
    "spectral_mmd": "squared MMD of the 200-bin histograms of the normalised Laplacian's "
    "eigenvalues (Gaussian kernel on {distance})",
    "validity": "fraction of samples valid for the benchmark ({validity})",
    "uniqueness": "fraction of samples that are the first of their isomorphism class",
    "novelty": "fraction of samples isomorphic to no training graph",
    "unique_novel": "fraction of samples unique and novel",
    "vun": "fraction of samples valid, unique and novel (V.U.N.)",
}

_VALIDITY_TEXT = {
    "planar": "connected and planar",
    "sbm": "DiGress's SBM test: 2-5 blocks of 20-40 nodes, mean Wald p-value of the block "
    "densities against 0.3/0.005 above 0.9; blocks fitted by molgen's spectral + likelihood "
    "inference instead of graph-tool's",
}


@dataclass
class GraphEvaluation:
    """Result of :func:`evaluate_graphs`: ``metrics`` (key -> float, NaN when undefined), the
    set sizes, and a definition of each key."""

    metrics: dict[str, float]
    n_samples: int
    reference_size: int
    train_size: int | None
    kernel: str
    benchmark: str | None
    definitions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_report(self) -> dict:
        """JSON-ready: metric floats at top level (NaN -> None), sizes, definitions."""
        report: dict = {k: (v if math.isfinite(v) else None) for k, v in self.metrics.items()}
        report.update(
            n_samples=self.n_samples,
            reference_size=self.reference_size,
            train_size=self.train_size,
            kernel=self.kernel,
            benchmark=self.benchmark,
            notes=list(self.notes),
            definitions=dict(self.definitions),
        )
        return report


def evaluate_graphs(
    generated: Sequence[nx.Graph],
    reference: Sequence[nx.Graph],
    train: Sequence[nx.Graph] | None = None,
    benchmark: str | None = None,
    kernel: str | None = None,
) -> GraphEvaluation:
    """The MMDs of ``generated`` against ``reference`` and the fractions of :func:`vun`
    (novelty against ``train``; validity for ``benchmark`` ``"planar"`` or ``"sbm"``).

    ``kernel`` defaults to the literature's choice for the benchmark: ``"emd"`` for
    ``"community_small"``, ``"tv"`` otherwise."""
    if benchmark is not None and benchmark not in GRAPH_BENCHMARKS:
        raise InputError(f"unknown graph benchmark {benchmark!r}; known: {GRAPH_BENCHMARKS}")
    if kernel is None:
        kernel = "emd" if benchmark == "community_small" else "tv"
    if not generated:
        raise InputError("no generated graphs")
    if not reference:
        raise InputError("no reference graphs")
    metrics = {
        f"{name}_mmd": graph_mmd(name, generated, reference, kernel) for name in MMD_STATISTICS
    }
    metrics |= vun(generated, train, VALIDITY.get(benchmark))
    distance = "total variation" if kernel == "tv" else "earth mover's distance"
    text = {
        "distance": distance,
        "orbit_distance": "total variation" if kernel == "tv" else "Euclidean distance",
        "validity": _VALIDITY_TEXT.get(benchmark, ""),
    }
    definitions = {key: GRAPH_DEFINITIONS[key].format(**text) for key in metrics}
    notes = []
    empty = sum(1 for g in generated if g.number_of_nodes() == 0)
    if empty:
        notes.append(f"{empty} empty generated graphs left out of the MMDs")
    return GraphEvaluation(
        metrics,
        n_samples=len(generated),
        reference_size=len(reference),
        train_size=None if train is None else len(train),
        kernel=kernel,
        benchmark=benchmark,
        definitions=definitions,
        notes=notes,
    )
