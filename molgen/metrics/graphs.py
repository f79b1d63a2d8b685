"""The graph-generation literature's metrics for generic graphs (numpy, scipy, networkx; no
RDKit): degree, clustering, orbit and spectral MMD, and V.U.N.

**MMD.** Each graph becomes a vector (a histogram normalised to sum 1, or a vector of mean
orbit counts); between the generated set :math:`X` and the reference set :math:`Y`,

.. math::
    \\mathrm{MMD}^2(X, Y) = \\overline{k(X, X)} + \\overline{k(Y, Y)} - 2\\,\\overline{k(X, Y)}

where :math:`\\overline{k(A, B)}` is the mean of the kernel over all pairs, each set with itself
included (the biased estimate GraphRNN, GRAN, SPECTRE and DiGress report, without a square
root). The statistics and kernels are those of DiGress's ``src/analysis/spectre_utils.py`` and
``dist_helper.py`` (after SPECTRE, GRAN and GraphRNN):

========== ============================================== ============ ====================
key        per-graph vector                               ``tv`` (sigma) ``emd`` (sigma)
========== ============================================== ============ ====================
degree     ``nx.degree_histogram``                        TV, 1        EMD, 1
clustering 100-bin histogram of ``nx.clustering`` on [0,1] TV, 0.1      EMD/100, 0.1
spectral   200-bin histogram of the normalised Laplacian's TV, 1        EMD, 1
           eigenvalues on [-1e-5, 2]
orbit      mean count of each 4-node orbit (15 orbits)    TV, 30       L2, 30
========== ============================================== ============ ====================

A histogram :math:`h` is normalised as :math:`h / (\\sum h + 10^{-6})`, as the reference code
does. The Gaussian kernels are :math:`\\exp(-d^2 / 2\\sigma^2)` with :math:`d` the total
variation distance (half the L1 distance), the earth mover's distance between two histograms
on bins one unit apart (divided by 100 for clustering) or the Euclidean distance.
``kernel="tv"`` is what SPECTRE and DiGress report on planar and SBM graphs, ``kernel="emd"``
what GraphRNN, GDSS and DiGress report on community-small. Empty generated graphs are left out
of every set (the reference code leaves them out of the degree, clustering and spectral sets
and divides by zero on them for orbits). With more generated than reference graphs, DiGress's
``spectral_stats`` uses only the first ``len(reference)`` generated graphs (it maps over two
lists of different lengths); molgen uses them all. On equal-sized sets every MMD agrees with
DiGress's code within 1e-7 (``scripts/compare_graph_metrics.py``).

Orbit counts are computed here in numpy (:func:`orbit_counts`: exact induced counts from
matrix products, checked against a brute-force enumeration and against the ORCA program),
because no maintained ORCA binding installs from the package index.

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
import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.linalg import eigh
from scipy.spatial.distance import cdist
from scipy.special import gammaln
from scipy.stats import chi2

from molgen.errors import InputError

__all__ = [
    "GRAPH_BENCHMARKS",
    "GRAPH_DEFINITIONS",
    "KERNELS",
    "MMD_STATISTICS",
    "VALIDITY",
    "GraphEvaluation",
    "clustering_histograms",
    "degree_histograms",
    "evaluate_graphs",
    "gaussian_kernel_matrix",
    "graph_mmd",
    "is_planar_graph",
    "is_sbm_graph",
    "isomorphism_classes",
    "mmd",
    "orbit_counts",
    "orbit_features",
    "sbm_blocks",
    "sbm_wald_pvalue",
    "spectral_histograms",
    "vun",
]

#: Number of node orbits of the graphlets of 2 to 4 nodes (ORCA's numbering 0-14).
N_ORBITS = 15


# ----------------------------------------------------------------------- per-graph statistics


def degree_histograms(graphs: Sequence[nx.Graph]) -> list[np.ndarray]:
    """``nx.degree_histogram`` of each graph: entry ``d`` counts the nodes of degree ``d``."""
    return [np.asarray(nx.degree_histogram(g), dtype=float) for g in graphs]


def clustering_histograms(graphs: Sequence[nx.Graph], bins: int = 100) -> list[np.ndarray]:
    """Histogram of the nodes' clustering coefficients, ``bins`` equal bins on [0, 1]."""
    return [
        np.histogram(list(nx.clustering(g).values()), bins=bins, range=(0.0, 1.0))[0].astype(float)
        for g in graphs
    ]


def spectral_histograms(graphs: Sequence[nx.Graph], bins: int = 200) -> list[np.ndarray]:
    """Histogram of the eigenvalues of the normalised Laplacian
    :math:`I - D^{-1/2} A D^{-1/2}` (``nx.normalized_laplacian_matrix``; an isolated node
    adds a zero row), ``bins`` equal bins on [-1e-5, 2], normalised to sum 1."""
    histograms = []
    for g in graphs:
        eigenvalues = np.linalg.eigvalsh(nx.normalized_laplacian_matrix(g).toarray())
        counts = np.histogram(eigenvalues, bins=bins, range=(-1e-5, 2))[0].astype(float)
        histograms.append(counts / counts.sum())
    return histograms


def orbit_counts(graph: nx.Graph) -> np.ndarray:
    """``int64 [n, 15]``: how many induced connected graphlets of 2-4 nodes hold each node in
    each orbit, in ORCA's numbering (0: degree; 1, 2: path P3 end, middle; 3: triangle;
    4, 5: path P4 end, middle; 6, 7: star leaf, centre; 8: 4-cycle; 9, 10, 11: paw tail,
    degree-2, degree-3 node; 12, 13: diamond degree-2, degree-3 node; 14: K4), rows in node
    order.

    Counts of (not necessarily induced) copies of each pattern come from products of the
    adjacency matrix; the induced counts solve the triangular system that says how many copies
    of each pattern each graphlet holds. Dense: for graphs of up to a few thousand nodes."""
    a = nx.to_numpy_array(graph, dtype=np.int64, weight=None)
    np.fill_diagonal(a, 0)
    n = a.shape[0]
    deg = a.sum(1)
    common = a @ a  # common[i, j]: common neighbours of i and j (i != j)
    np.fill_diagonal(common, 0)
    tri = (a * common).sum(1) // 2  # triangles through each node
    around = a @ (deg - 1)  # sum over neighbours j of (d_j - 1)
    o = np.zeros((n, N_ORBITS), dtype=np.int64)
    o[:, 0] = deg
    o[:, 1] = around - 2 * tri
    o[:, 2] = deg * (deg - 1) // 2 - tri
    o[:, 3] = tri
    # copies (not necessarily induced) of each 4-node pattern with the node in each orbit
    k4 = np.zeros(n, dtype=np.int64)
    for i in range(n):
        inside = a[i].nonzero()[0]
        sub = a[np.ix_(inside, inside)]
        k4[i] = np.trace(sub @ sub @ sub) // 6
    on_edges = a * (common - 1)
    copies = {
        4: a @ around - deg * (deg - 1) - 2 * tri,
        5: (deg - 1) * around - 2 * tri,
        6: a @ ((deg - 1) * (deg - 2) // 2),
        7: deg * (deg - 1) * (deg - 2) // 6,
        8: (common * (common - 1) // 2).sum(1),
        9: a @ tri - (a * common).sum(1),
        10: (a * common) @ (deg - 2),
        11: tri * (deg - 2),
        12: np.einsum("ij,jk,ki->i", a, on_edges, a) // 2,
        13: (a * (common * (common - 1) // 2)).sum(1),
        14: k4,
    }
    # copies[q] = sum over graphlet orbits p of CONTAINS[q][p] * induced[p]; solved from 14 down
    for q in range(14, 3, -1):
        o[:, q] = copies[q] - sum(times * o[:, p] for p, times in _CONTAINS[q].items())
    return o


#: ``_CONTAINS[q][p]``: copies of pattern orbit ``q`` held by one induced graphlet in which the
#: node is in orbit ``p > q`` (counted by hand on the path, star, cycle, paw, diamond and K4).
_CONTAINS = {
    14: {},
    13: {14: 3},
    12: {14: 3},
    11: {13: 2, 14: 3},
    10: {12: 2, 13: 2, 14: 6},
    9: {12: 2, 14: 3},
    8: {12: 1, 13: 1, 14: 3},
    7: {11: 1, 13: 1, 14: 1},
    6: {9: 1, 10: 1, 12: 2, 13: 1, 14: 3},
    5: {8: 2, 10: 1, 11: 2, 12: 2, 13: 4, 14: 6},
    4: {8: 2, 9: 2, 10: 1, 12: 4, 13: 2, 14: 6},
}


def orbit_features(graphs: Sequence[nx.Graph]) -> list[np.ndarray]:
    """Per graph, the 15 orbit counts of :func:`orbit_counts` summed over nodes and divided by
    the number of nodes."""
    return [orbit_counts(g).sum(0) / g.number_of_nodes() for g in graphs]


# ----------------------------------------------------------------------------------- kernels

#: The kernel families :func:`graph_mmd` knows.
KERNELS = ("tv", "emd")


def _padded(vectors: Sequence[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(vectors), length))
    for i, v in enumerate(vectors):
        out[i, : len(v)] = v
    return out


def gaussian_kernel_matrix(
    x: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    distance: str,
    sigma: float,
    distance_scaling: float = 1.0,
) -> np.ndarray:
    """``[len(x), len(y)]`` Gaussian kernel :math:`\\exp(-d^2 / 2\\sigma^2)` between vectors of
    possibly different lengths (zero-padded to a common length), with :math:`d`:

    - ``"tv"``: total variation, :math:`\\tfrac12 \\sum_k |x_k - y_k|`;
    - ``"emd"``: earth mover's distance between histograms on bins ``distance_scaling`` apart
      (as ``pyemd`` with ground distance :math:`|i - j| / s`): for histograms of equal mass,
      :math:`\\sum_k |X_k - Y_k| / s` with :math:`X, Y` the cumulative sums;
    - ``"l2"``: Euclidean.
    """
    length = max(len(v) for v in (*x, *y))
    px, py = _padded(x, length), _padded(y, length)
    if distance == "tv":
        d = cdist(px, py, "cityblock") / 2
    elif distance == "emd":
        d = cdist(np.cumsum(px, 1)[:, :-1], np.cumsum(py, 1)[:, :-1], "cityblock")
        d /= distance_scaling
    elif distance == "l2":
        d = cdist(px, py, "euclidean")
    else:
        raise ValueError(f"unknown distance {distance!r}; known: tv, emd, l2")
    return np.exp(-(d**2) / (2 * sigma**2))


def mmd(
    x: Sequence[np.ndarray], y: Sequence[np.ndarray], kernel: Callable[..., np.ndarray]
) -> float:
    """Biased squared MMD: the mean of ``kernel(x, x)`` plus that of ``kernel(y, y)`` minus
    twice that of ``kernel(x, y)``; ``kernel(a, b)`` returns the ``[len(a), len(b)]`` matrix.
    NaN when a set is empty."""
    if not len(x) or not len(y):
        return math.nan
    return float(kernel(x, x).mean() + kernel(y, y).mean() - 2 * kernel(x, y).mean())


@dataclass(frozen=True)
class _Statistic:
    features: Callable[[Sequence[nx.Graph]], list[np.ndarray]]
    histogram: bool
    kernels: dict[str, tuple[str, float, float]]  # family -> (distance, sigma, scaling)


#: The MMD statistics, by report key: the per-graph vectors and, for each kernel family, the
#: distance, sigma and distance scaling.
MMD_STATISTICS = {
    "degree": _Statistic(
        degree_histograms, True, {"tv": ("tv", 1.0, 1.0), "emd": ("emd", 1.0, 1.0)}
    ),
    "clustering": _Statistic(
        clustering_histograms, True, {"tv": ("tv", 0.1, 1.0), "emd": ("emd", 0.1, 100.0)}
    ),
    "orbit": _Statistic(orbit_features, False, {"tv": ("tv", 30.0, 1.0), "emd": ("l2", 30.0, 1.0)}),
    "spectral": _Statistic(
        spectral_histograms, True, {"tv": ("tv", 1.0, 1.0), "emd": ("emd", 1.0, 1.0)}
    ),
}


def graph_mmd(
    statistic: str, generated: Sequence[nx.Graph], reference: Sequence[nx.Graph], kernel: str = "tv"
) -> float:
    """The squared MMD of ``statistic`` (a key of :data:`MMD_STATISTICS`) between the
    generated and reference graphs, with the ``kernel`` family's kernel (:data:`KERNELS`).
    Empty generated graphs are left out."""
    if statistic not in MMD_STATISTICS:
        raise InputError(f"unknown statistic {statistic!r}; known: {list(MMD_STATISTICS)}")
    if kernel not in KERNELS:
        raise InputError(f"unknown kernel {kernel!r}; known: {list(KERNELS)}")
    stat = MMD_STATISTICS[statistic]
    distance, sigma, scaling = stat.kernels[kernel]
    vectors = []
    for graphs in ([g for g in generated if g.number_of_nodes()], reference):
        features = stat.features(graphs)
        if stat.histogram:
            features = [h / (h.sum() + 1e-6) for h in features]
        vectors.append(features)

    def matrix(a, b):
        return gaussian_kernel_matrix(a, b, distance, sigma, scaling)

    return mmd(vectors[0], vectors[1], matrix)


# ---------------------------------------------------------------------------------- validity


def is_planar_graph(graph: nx.Graph) -> bool:
    """Valid planar-benchmark graph: connected and planar (the empty graph is not)."""
    return graph.number_of_nodes() > 0 and nx.is_connected(graph) and nx.check_planarity(graph)[0]


def sbm_wald_pvalue(
    graph: nx.Graph, blocks: np.ndarray, p_intra: float = 0.3, p_inter: float = 0.005
) -> float:
    """DiGress's SBM statistic for a given partition ``blocks`` (a block index per node, in
    node order): the mean, over all ordered pairs of blocks (a block with itself included), of
    the p-value :math:`1 - F_{\\chi^2_1}(W)` of the Wald statistic
    :math:`W = (\\hat p - p)^2 / (\\hat p (1 - \\hat p) + 10^{-6})`, where :math:`\\hat p` is the
    block pair's edge density (within a block of :math:`n` nodes, edges over
    :math:`n(n-1)/2`; between two, edges over :math:`n_r n_s`) and :math:`p` is ``p_intra``
    or ``p_inter``."""
    a = nx.to_numpy_array(graph, weight=None)
    labels = np.unique(blocks, return_inverse=True)[1]
    onehot = np.eye(labels.max() + 1)[labels]
    edges = onehot.T @ a @ onehot  # diagonal: twice the edges within the block
    sizes = onehot.sum(0)
    est_intra = np.diagonal(edges) / (sizes * (sizes - 1) + 1e-6)
    inter = edges.copy()
    np.fill_diagonal(inter, 0)
    est_inter = inter / (np.outer(sizes, sizes) + 1e-6)
    wald = (est_inter - p_inter) ** 2 / (est_inter * (1 - est_inter) + 1e-6)
    np.fill_diagonal(wald, (est_intra - p_intra) ** 2 / (est_intra * (1 - est_intra) + 1e-6))
    return float((1 - chi2.cdf(np.abs(wald), 1)).mean())


def _sbm_log_likelihood(edges: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Bernoulli SBM log-likelihood at the maximum-likelihood densities, for ``edges``
    ``[..., k, k]`` (intra-block edges counted twice on the diagonal) and ``sizes [..., k]``."""
    pairs = sizes[..., :, None] * sizes[..., None, :] - sizes[..., :, None] * np.eye(len(sizes.T))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(pairs > 0, edges / np.where(pairs > 0, pairs, 1), 0.0)
        terms = edges * np.log(np.where(p > 0, p, 1)) + (pairs - edges) * np.log(
            np.where(p < 1, 1 - p, 1)
        )
    return terms.sum(axis=(-1, -2)) / 2  # each unordered pair of blocks appears twice


def _refine(a: np.ndarray, labels: np.ndarray, k: int, sweeps: int = 10) -> np.ndarray:
    """Greedy node moves that raise the SBM log-likelihood, until none does."""
    labels = labels.copy()
    onehot = np.eye(k)[labels]
    edges = onehot.T @ a @ onehot
    sizes = onehot.sum(0)
    neighbours = a @ onehot  # [n, k]: each node's edges into each block
    eye = np.eye(k)
    for _ in range(sweeps):
        moved = False
        for i in range(len(labels)):
            old = labels[i]
            if sizes[old] == 1:
                continue
            c = neighbours[i]
            # candidate b: i moved from old to b (b == old: no move); arrays [k, k, k]
            change = np.outer(c, eye[old])
            out = edges - change - change.T
            move = c[None, :, None] * eye[:, None, :]  # [b, r, s] = c_r [s == b]
            candidates = out[None] + move + move.transpose(0, 2, 1)
            candidate_sizes = sizes - eye[old] + eye
            ll = _sbm_log_likelihood(candidates, candidate_sizes)
            best = int(np.argmax(ll))
            if ll[best] > ll[old] + 1e-9:
                edges = candidates[best]
                sizes = candidate_sizes[best]
                neighbours[:, old] -= a[i]
                neighbours[:, best] += a[i]
                labels[i] = best
                moved = True
        if not moved:
            break
    return labels


def _log_partitions(max_total: int, max_parts: int) -> np.ndarray:
    """``[m, k]``: the log of the number of partitions of ``m`` into at most ``k`` parts, by
    :math:`q(m, k) = \\sum_{j \\ge 0} q(m - jk, k - 1)` (a running sum over each residue of
    ``m`` modulo ``k``)."""
    q = np.zeros((max_total + 1, max_parts + 1))
    q[0] = 1.0
    for k in range(1, max_parts + 1):
        for residue in range(min(k, max_total + 1)):
            q[residue::k, k] = np.cumsum(q[residue::k, k - 1])
    with np.errstate(divide="ignore"):
        return np.log(q)


def _description_length(a: np.ndarray, labels: np.ndarray) -> float:
    """Description length (nats) of the graph under a degree-corrected microcanonical SBM with
    these blocks, graph-tool's ``BlockState.entropy()`` criterion as DiGress calls it (each
    edge given in both directions, so a directed model): the graph given the block edge counts
    and degrees, plus the block edge counts, the partition and the degrees (Peixoto's
    "distributed" degree prior). Close to graph-tool's value but not equal to it (some tens of
    nats lower on the planar and SBM graphs); it ranks partitions the same way on the graphs
    where this was checked."""
    labels = _canonical(labels)
    onehot = np.eye(labels.max() + 1)[labels]
    edges = onehot.T @ a @ onehot
    degrees = a.sum(1).astype(int)
    block_degrees = edges.sum(1).astype(int)
    sizes = onehot.sum(0).astype(int)
    n, b, e = len(labels), len(sizes), int(a.sum())
    graph = (
        2 * gammaln(block_degrees + 1).sum()
        - gammaln(edges + 1).sum()
        - 2 * gammaln(degrees + 1).sum()
    )
    edge_counts = gammaln(b * b + e) - gammaln(e + 1) - gammaln(b * b)
    partition = (
        gammaln(n) - gammaln(b) - gammaln(n - b + 1)
        + gammaln(n + 1) - gammaln(sizes + 1).sum() + math.log(n)
    )  # fmt: skip
    log_q = _log_partitions(int(block_degrees.max()), int(sizes.max()))
    degree = sum(
        2 * log_q[block_degrees[r], sizes[r]]
        + gammaln(sizes[r] + 1)
        - gammaln(np.bincount(degrees[labels == r]) + 1).sum()
        for r in range(b)
    )
    return float(graph + edge_counts + partition + degree)


def sbm_blocks(
    graph: nx.Graph, max_blocks: int = 8, restarts: int = 4, seed: int = 0
) -> np.ndarray:
    """A block index per node (node order) for a stochastic block model fitted to ``graph``:
    for each number of blocks :math:`k \\le` ``max_blocks``, spectral clustering (k-means, from
    ``restarts`` seeded starts, on the top :math:`k` eigenvectors of
    :math:`D^{-1/2} A D^{-1/2}`, rows normalised), each refined by greedy likelihood-raising
    node moves; the partition kept has the shortest description length
    (:func:`_description_length`, graph-tool's criterion) over all starts and :math:`k`
    (one block included).

    This stands in for graph-tool's ``minimize_blockmodel_dl`` with merge-split refinement,
    which DiGress uses and which cannot be installed from the package index: another search
    for the same kind of partition, which disagrees with graph-tool's on ambiguous graphs
    (``scripts/compare_graph_metrics.py --sbm-python`` measures how often)."""
    a = nx.to_numpy_array(graph, weight=None)
    np.fill_diagonal(a, 0)
    n = a.shape[0]
    deg = a.sum(1)
    scale = np.where(deg > 0, 1 / np.sqrt(np.maximum(deg, 1)), 0.0)
    vectors = _top_eigenvectors(scale[:, None] * a * scale[None, :], min(max_blocks, n))
    seen = set()
    best, best_length = np.zeros(n, dtype=int), _description_length(a, np.zeros(n, dtype=int))
    for k in range(2, min(max_blocks, n) + 1):
        embedding = vectors[:, -k:]
        norms = np.linalg.norm(embedding, axis=1, keepdims=True)
        embedding = embedding / np.where(norms > 0, norms, 1)
        for start in range(restarts):
            with warnings.catch_warnings():  # an empty cluster: fewer blocks, still a start
                warnings.simplefilter("ignore", UserWarning)
                _, labels = kmeans2(embedding, k, minit="++", seed=seed + start)
            labels = _canonical(labels)
            if labels.tobytes() in seen:  # the same start refines to the same partition
                continue
            seen.add(labels.tobytes())
            labels = _refine(a, labels, k)
            length = _description_length(a, labels)
            if length < best_length:
                best, best_length = _canonical(labels), length
    return best


def _top_eigenvectors(matrix: np.ndarray, k: int) -> np.ndarray:
    """Eigenvectors of the ``k`` largest eigenvalues, in ascending order, as columns."""
    n = len(matrix)
    try:
        return eigh(matrix, subset_by_index=[n - k, n - 1])[1]
    except np.linalg.LinAlgError:  # LAPACK's subset driver fails on some degenerate spectra
        return np.linalg.eigh(matrix)[1][:, n - k :]


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Blocks numbered 0, 1, ... in the order of their first node."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse]


def is_sbm_graph(
    graph: nx.Graph,
    p_intra: float = 0.3,
    p_inter: float = 0.005,
    strict: bool = True,
    blocks: np.ndarray | None = None,
) -> bool | float:
    """DiGress's SBM validity: fit a block partition (``blocks``, default :func:`sbm_blocks`),
    and with ``strict`` reject partitions of fewer than 2 or more than 5 blocks or a block of
    fewer than 20 or more than 40 nodes; then accept when :func:`sbm_wald_pvalue` exceeds 0.9.
    Without ``strict``, the p-value itself. DiGress infers the partition with graph-tool
    (see :func:`sbm_blocks` for the difference)."""
    if graph.number_of_nodes() == 0:
        return False if strict else 0.0
    labels = sbm_blocks(graph) if blocks is None else np.asarray(blocks)
    sizes = np.unique(labels, return_counts=True)[1]
    if strict and (len(sizes) < 2 or len(sizes) > 5 or sizes.min() < 20 or sizes.max() > 40):
        return False
    p = sbm_wald_pvalue(graph, labels, p_intra, p_inter)
    return p > 0.9 if strict else p


#: Validity tests by benchmark name.
VALIDITY: dict[str, Callable[[nx.Graph], bool]] = {
    "planar": is_planar_graph,
    "sbm": is_sbm_graph,
}
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
