"""Validity of generated graphs for the planar and SBM benchmarks (numpy, scipy, networkx; no
RDKit): :func:`is_planar_graph`, and DiGress's SBM test :func:`is_sbm_graph` with the block
partition it needs inferred here (:func:`sbm_blocks`), since graph-tool does not install from
the package index. :data:`VALIDITY` holds the test of each benchmark by name.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import networkx as nx
import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.linalg import eigh
from scipy.special import gammaln
from scipy.stats import chi2

__all__ = [
    "VALIDITY",
    "is_planar_graph",
    "is_sbm_graph",
    "sbm_blocks",
    "sbm_wald_pvalue",
]


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
