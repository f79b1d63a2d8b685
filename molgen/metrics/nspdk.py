"""The neighbourhood subgraph pairwise distance kernel (NSPDK; Costa & De Grave, ICML 2010) as
GDSS (Jo et al. 2022, ``evaluation/mmd.py``) computes its MMD: EDeN's ``vectorize(graphs,
complexity=4, discrete=True)`` (``fabriziocosta/EDeN``, vendored in GDSS as
``evaluation/eden.py``) with its other defaults, and the linear kernel of those vectors.

**Features.** Each edge becomes a node carrying the edge's label (the graph is subdivided), so
distances below count both atoms and bonds: two steps per bond. For a node :math:`v` of the
original graph, its rooted neighbourhood of radius :math:`r` is hashed from the sorted hashes of
(label, degree) of the nodes at each distance :math:`0..2r` from it. For every pair of original
nodes :math:`(v, u)` at distance :math:`2d` (ordered pairs, :math:`v = u` included) and every
:math:`r \\le 4` with both neighbourhoods reaching that far, two features are counted: the pair
of neighbourhood hashes with :math:`(r, d)`, and :math:`u`'s neighbourhood alone with
:math:`(r, d)`; :math:`d \\le 4`. Each feature is a 16-bit hash (index 1..65536) of Python's
tuple hash, as EDeN computes it. The counts of each :math:`(r, d)` are scaled to unit norm
(a feature that two :math:`(r, d)` blocks share takes the later block's value, as EDeN's dict
does), then the whole vector is.

**MMD.** With the linear kernel, the biased MMD GDSS reports,
:math:`\\overline{K_{XX}} + \\overline{K_{YY}} - 2\\,\\overline{K_{XY}}` (means over all pairs),
equals :math:`\\lVert \\bar x - \\bar y \\rVert^2` of the two sets' mean feature vectors, which is
how it is computed here: no pairwise matrix.

**Label hashes.** EDeN hashes a label with Python's ``hash``, which for strings (the element
symbols GDSS uses as atom labels) changes with every process unless ``PYTHONHASHSEED`` is set,
so GDSS's own figure moves slightly from run to run with the 16-bit hash collisions. molgen
hashes string labels with BLAKE2b instead (:func:`stable_label_hash`), so the same files
always give the same value; integer labels (bond orders) hash as Python's ``hash``, which is
the integer itself. With ``label_hash=hash`` and the same ``PYTHONHASHSEED`` as GDSS's process,
the vectors are EDeN's to the last bit (``scripts/compare_gdss.py``). Tuple hashes are those of
64-bit CPython.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable, Sequence

import networkx as nx
import numpy as np

__all__ = [
    "NSPDK_BITS",
    "NSPDK_DISTANCE",
    "NSPDK_FEATURE_SIZE",
    "NSPDK_RADIUS",
    "NspdkVector",
    "mean_nspdk_vector",
    "nspdk_mmd",
    "nspdk_mmd_of_means",
    "nspdk_vector",
    "stable_label_hash",
]

#: GDSS's ``complexity=4``: the largest radius and distance (in bonds).
NSPDK_RADIUS = 4
NSPDK_DISTANCE = 4
#: EDeN's default ``nbits``: features are hashed into 2**16 buckets.
NSPDK_BITS = 16
_FEATURE_MASK = 2**NSPDK_BITS - 1
#: EDeN's ``feature_size``: indices run 1..2**16 (0 unused), one more slot as EDeN allocates.
NSPDK_FEATURE_SIZE = _FEATURE_MASK + 2
#: EDeN's mask for the neighbourhood hashes (its ``fast_hash*`` default).
_HASH_MASK = 2**32 - 1

#: One graph's feature vector: sorted feature indices and their values.
NspdkVector = tuple[np.ndarray, np.ndarray]


def stable_label_hash(label: Hashable) -> int:
    """A label's hash that is the same in every process: the first 8 bytes of BLAKE2b of a
    string's UTF-8 bytes; Python's ``hash`` of anything else (integers hash to themselves)."""
    if isinstance(label, str):
        return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "little")
    return hash(label)


def _hash_pair(a: int, b: int, mask: int = _HASH_MASK) -> int:
    return (hash((a, b)) & mask) + 1


def _running_hashes(values: list[int]) -> list[int]:
    """EDeN's ``fast_hash_vec``: hashes of each prefix of ``values``."""
    out = []
    running = 0xAAAAAAAA
    for i, value in enumerate(values):
        running ^= hash((running, value, i))
        out.append((running & _HASH_MASK) + 1)
    return out


def _subdivided(graph: nx.Graph) -> tuple[list[int], list[list[int]], int]:
    """EDeN's ``_edge_to_vertex_transform``: the original nodes keep their ids, each edge
    (self-loops skipped) becomes a node ``1 + max(id)``, ``2 + max(id)``, ... in
    ``graph.edges()`` order. Returns each node's label, its neighbours in the order networkx
    would list them, and the number of original nodes (indices below it are original)."""
    nodes = list(graph.nodes())
    if not nodes:
        raise ValueError("NSPDK of an empty graph")
    if any(not isinstance(node, (int, np.integer)) or node < 0 for node in nodes):
        raise ValueError("NSPDK needs graphs whose nodes are integers >= 0")
    # EDeN keeps the node ids, numbering edge nodes from 1 + the largest; here nodes are
    # renumbered 0..n-1 in node order: the same ids for graphs numbered so (molecules), and
    # for others the same vector up to the order floats are summed in
    index = {node: i for i, node in enumerate(nodes)}
    labels = [graph.nodes[node]["label"] for node in nodes]
    neighbours: list[list[int]] = [[] for _ in nodes]
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue
        w = len(labels)
        labels.append(data["label"])
        neighbours.append([index[u], index[v]])
        neighbours[index[u]].append(w)
        neighbours[index[v]].append(w)
    return labels, neighbours, len(nodes)


def _distance_sets(neighbours: list[list[int]], root: int, max_depth: int) -> dict[int, set]:
    """EDeN's ``_single_vertex_breadth_first_visit``: the set of nodes at each distance."""
    at_distance: dict[int, set] = {0: {root}}
    distance = {root: 0}
    queue = deque([root])
    while queue:
        u = queue.popleft()
        d = distance[u] + 1
        if d > max_depth:
            continue
        for v in neighbours[u]:
            if v not in distance:
                distance[v] = d
                queue.append(v)
                at_distance.setdefault(d, set()).add(v)
    return at_distance


def nspdk_vector(
    graph: nx.Graph, *, label_hash: Callable[[Hashable], int] = stable_label_hash
) -> NspdkVector:
    """The NSPDK feature vector of a graph whose nodes (integers) and edges carry a ``label``:
    ``(indices, values)``, indices in 1..2**16 increasing, the vector of unit norm (see the
    module docstring). ``label_hash`` hashes the labels (Python's ``hash`` reproduces EDeN in a
    process with the same ``PYTHONHASHSEED``). ValueError for an empty graph."""
    labels, neighbours, n_nodes = _subdivided(graph)
    node_hashes = [(label_hash(label) & _FEATURE_MASK) + 1 for label in labels]
    # a node's (label, degree) hash, what a neighbourhood is made of
    vertex_hashes = [
        _hash_pair(h, len(adjacent)) for h, adjacent in zip(node_hashes, neighbours, strict=True)
    ]
    max_depth = 2 * max(NSPDK_RADIUS, NSPDK_DISTANCE)
    rings = [_distance_sets(neighbours, v, max_depth) for v in range(n_nodes)]
    neighbourhoods = [
        _running_hashes(
            [
                (hash(tuple(sorted(vertex_hashes[u] for u in nodes))) & _HASH_MASK) + 1
                for nodes in ring.values()
            ]
        )
        for ring in rings
    ]
    counts: dict[tuple[int, int], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for v in range(n_nodes):
        hashes_v = neighbourhoods[v]
        for distance in range(0, 2 * NSPDK_DISTANCE + 1, 2):
            for u in rings[v].get(distance, ()):
                hashes_u = neighbourhoods[u]
                for radius in range(0, 2 * NSPDK_RADIUS + 1, 2):
                    if radius >= len(hashes_v) or radius >= len(hashes_u):
                        continue
                    hash_v, hash_u = hashes_v[radius], hashes_u[radius]
                    pair = (min(hash_v, hash_u), max(hash_v, hash_u), radius, distance)
                    block = counts[radius, distance]
                    block[(hash(pair) & _FEATURE_MASK) + 1] += 1.0
                    block[(hash((hash_u, radius, distance)) & _FEATURE_MASK) + 1] += 1.0
    return _normalized(counts)


def _normalized(counts: dict[tuple[int, int], dict[int, float]]) -> NspdkVector:
    """EDeN's ``_normalization``: each (r, d) block to unit norm, written into one dict (a
    later block overwrites an index an earlier one has), then the whole vector."""
    vector: dict[int, float] = {}
    for block in counts.values():
        norm = 0.0
        for count in block.values():
            norm += count * count
        norm = math.sqrt(norm)
        for index, count in block.items():
            vector[index] = count / norm
    total = 0.0
    for value in vector.values():
        total += value * value
    total = math.sqrt(total)
    indices = np.fromiter(vector, np.int64, len(vector))
    values = np.fromiter(vector.values(), np.float64, len(vector)) / total
    order = np.argsort(indices)
    return indices[order], values[order]


def mean_nspdk_vector(
    vectors: Iterable[NspdkVector], weights: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """``float64[NSPDK_FEATURE_SIZE]``: the (weighted) mean of sparse NSPDK vectors; zeros
    for none."""
    total = np.zeros(NSPDK_FEATURE_SIZE)
    weight_sum = 0.0
    vectors = list(vectors)
    weights = np.ones(len(vectors)) if weights is None else np.asarray(weights, np.float64)
    for (indices, values), weight in zip(vectors, weights, strict=True):
        total[indices] += weight * values
        weight_sum += weight
    return total / weight_sum if weight_sum else total


def nspdk_mmd_of_means(mean_x: np.ndarray, mean_y: np.ndarray) -> float:
    """GDSS's NSPDK MMD from the two sets' mean vectors:
    :math:`\\bar x \\cdot \\bar x + \\bar y \\cdot \\bar y - 2\\, \\bar x \\cdot \\bar y`."""
    return float(mean_x @ mean_x + mean_y @ mean_y - 2.0 * (mean_x @ mean_y))


def nspdk_mmd(
    graphs_x: Sequence[nx.Graph],
    graphs_y: Sequence[nx.Graph],
    *,
    label_hash: Callable[[Hashable], int] = stable_label_hash,
) -> float:
    """GDSS's NSPDK MMD between two sets of labelled graphs (``compute_nspdk_mmd``); NaN when
    either set is empty."""
    if not graphs_x or not graphs_y:
        return math.nan
    means = [
        mean_nspdk_vector(nspdk_vector(g, label_hash=label_hash) for g in graphs)
        for graphs in (graphs_x, graphs_y)
    ]
    return nspdk_mmd_of_means(*means)
