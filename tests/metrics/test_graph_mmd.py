"""Graph MMDs: orbit counts against an enumeration, every MMD against a double loop."""

import itertools
import math

import networkx as nx
import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from molgen.data.graphs import load_graph_dataset
from molgen.errors import InputError
from molgen.metrics.graph_mmd import MMD_STATISTICS, graph_mmd, orbit_counts

# ------------------------------------------------------------------------------ orbit counts


def _orbits_by_enumeration(graph: nx.Graph) -> np.ndarray:
    """Orbit counts by visiting every connected induced subgraph of 2-4 nodes and naming each
    node's orbit from the degrees inside it."""
    nodes = list(graph.nodes())
    index = {v: i for i, v in enumerate(nodes)}
    counts = np.zeros((len(nodes), 15), dtype=np.int64)
    for size in (2, 3, 4):
        for subset in itertools.combinations(nodes, size):
            sub = graph.subgraph(subset)
            if not nx.is_connected(sub):
                continue
            degrees = sorted(d for _, d in sub.degree())
            for v in subset:
                counts[index[v], _orbit(size, degrees, sub.degree(v), sub, v)] += 1
    return counts


def _orbit(size, degrees, d, sub, v):
    if size == 2:
        return 0
    if size == 3:
        return 3 if degrees == [2, 2, 2] else (2 if d == 2 else 1)
    shape = {
        (1, 1, 2, 2): {1: 4, 2: 5},  # path
        (1, 1, 1, 3): {1: 6, 3: 7},  # star
        (2, 2, 2, 2): {2: 8},  # cycle
        (1, 2, 2, 3): {1: 9, 2: 10, 3: 11},  # paw
        (2, 2, 3, 3): {2: 12, 3: 13},  # diamond
        (3, 3, 3, 3): {3: 14},  # K4
    }
    return shape[tuple(degrees)][d]


@pytest.mark.parametrize(
    "graph",
    [
        nx.path_graph(4),
        nx.star_graph(3),
        nx.cycle_graph(4),
        nx.complete_graph(4),
        nx.complete_graph(6),
        nx.Graph([(0, 1), (1, 2), (2, 0), (2, 3)]),  # paw
        nx.Graph([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)]),  # diamond
        nx.petersen_graph(),
    ]
    + [
        nx.gnp_random_graph(n, p, seed=s)
        for s, (n, p) in enumerate([(9, 0.3), (11, 0.5), (12, 0.8)])
    ],
)
def test_orbit_counts_match_enumeration(graph):
    assert np.array_equal(orbit_counts(graph), _orbits_by_enumeration(graph))


def test_orbit_counts_of_named_graphlets():
    # K4: each node is in 3 edges, 3 paths-as-middle? no: induced, so only K4 and triangles
    k4 = orbit_counts(nx.complete_graph(4))
    assert k4[:, 0].tolist() == [3] * 4 and k4[:, 3].tolist() == [3] * 4
    assert k4[:, 14].tolist() == [1] * 4 and k4[:, [1, 2, 4, 5, 6, 7, 8]].sum() == 0
    star = orbit_counts(nx.star_graph(3))
    assert star[0, 7] == 1 and star[1:, 6].tolist() == [1, 1, 1]


# ------------------------------------------------------------------------------------- MMD


def _naive_mmd(x, y, kernel):
    def mean_kernel(a, b):
        total = 0.0
        for u in a:
            for v in b:
                total += kernel(u, v)
        return total / (len(a) * len(b))

    return mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y)


def _pad(u, v):
    n = max(len(u), len(v))
    return np.pad(u, (0, n - len(u))), np.pad(v, (0, n - len(v)))


def _tv(sigma):
    def kernel(u, v):
        u, v = _pad(u, v)
        d = sum(abs(a - b) for a, b in zip(u, v, strict=True)) / 2
        return math.exp(-d * d / (2 * sigma * sigma))

    return kernel


def _emd(sigma, scaling):
    def kernel(u, v):
        u, v = _pad(u, v)
        bins = np.arange(len(u))
        d = wasserstein_distance(bins, bins, u, v) / scaling
        return math.exp(-d * d / (2 * sigma * sigma))

    return kernel


def _l2(sigma):
    def kernel(u, v):
        d = math.sqrt(sum((a - b) ** 2 for a, b in zip(u, v, strict=True)))
        return math.exp(-d * d / (2 * sigma * sigma))

    return kernel


def _degree_histogram(graph):
    counts = [0] * (max(d for _, d in graph.degree()) + 1)
    for _, d in graph.degree():
        counts[d] += 1
    return np.array(counts, dtype=float)


def _clustering_histogram(graph):
    counts = np.zeros(100)
    for v in graph.nodes():
        neighbours = list(graph[v])
        k = len(neighbours)
        links = sum(graph.has_edge(a, b) for a, b in itertools.combinations(neighbours, 2))
        c = 0.0 if k < 2 else 2 * links / (k * (k - 1))
        counts[min(int(c * 100), 99)] += 1
    return counts


def _normalised(hist):
    return hist / (hist.sum() + 1e-6)


@pytest.mark.parametrize(
    ("statistic", "kernel_family", "features", "kernel"),
    [
        ("degree", "tv", _degree_histogram, _tv(1.0)),
        ("degree", "emd", _degree_histogram, _emd(1.0, 1.0)),
        ("clustering", "tv", _clustering_histogram, _tv(0.1)),
        ("clustering", "emd", _clustering_histogram, _emd(0.1, 100.0)),
    ],
)
def test_histogram_mmd_matches_a_double_loop(
    small_sets, statistic, kernel_family, features, kernel
):
    generated, reference = small_sets
    expected = _naive_mmd(
        [_normalised(features(g)) for g in generated],
        [_normalised(features(g)) for g in reference],
        kernel,
    )
    assert graph_mmd(statistic, generated, reference, kernel_family) == pytest.approx(
        expected, abs=1e-7
    )


@pytest.mark.parametrize(("kernel_family", "kernel"), [("tv", _tv(30.0)), ("emd", _l2(30.0))])
def test_orbit_mmd_matches_a_double_loop(small_sets, kernel_family, kernel):
    generated, reference = small_sets

    def features(graph):
        return _orbits_by_enumeration(graph).sum(0) / graph.number_of_nodes()

    expected = _naive_mmd(
        [features(g) for g in generated], [features(g) for g in reference], kernel
    )
    assert graph_mmd("orbit", generated, reference, kernel_family) == pytest.approx(
        expected, abs=1e-12
    )


def test_spectral_mmd_matches_a_double_loop(small_sets):
    generated, reference = small_sets

    def features(graph):
        a = nx.to_numpy_array(graph)
        d = a.sum(1)
        inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
        laplacian = np.diag((d > 0).astype(float)) - inv[:, None] * a * inv[None, :]
        eigenvalues = np.linalg.eigvalsh(laplacian)
        counts = np.zeros(200)
        width = (2 + 1e-5) / 200
        for e in eigenvalues:
            counts[min(int((e + 1e-5) / width), 199)] += 1
        return _normalised(counts / counts.sum())

    expected = _naive_mmd(
        [features(g) for g in generated], [features(g) for g in reference], _tv(1.0)
    )
    assert graph_mmd("spectral", generated, reference, "tv") == pytest.approx(expected, abs=1e-9)


@pytest.fixture(scope="module")
def datasets():
    return load_graph_dataset("planar"), load_graph_dataset("sbm")


@pytest.mark.parametrize("statistic", sorted(MMD_STATISTICS))
@pytest.mark.parametrize("kernel", ["tv", "emd"])
def test_mmd_of_a_set_with_itself_is_zero(datasets, statistic, kernel):
    graphs = datasets[0].test.graphs[:10]
    assert graph_mmd(statistic, graphs, graphs, kernel) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("statistic", sorted(MMD_STATISTICS))
def test_mmd_ranks_the_same_family_closer(datasets, statistic):
    planar, sbm = datasets
    same = graph_mmd(statistic, planar.train.graphs[:20], planar.test.graphs[:20])
    other = graph_mmd(statistic, sbm.train.graphs[:20], planar.test.graphs[:20])
    assert 0 <= same < other


def test_mmd_is_symmetric_and_drops_empty_generated_graphs(small_sets):
    generated, reference = small_sets
    forward = graph_mmd("degree", generated, reference)
    assert forward == pytest.approx(graph_mmd("degree", reference, generated), abs=1e-15)
    assert graph_mmd("degree", [*generated, nx.empty_graph(0)], reference) == forward


def test_unknown_statistic_or_kernel(small_sets):
    with pytest.raises(InputError, match="unknown kernel"):
        graph_mmd("degree", *small_sets, kernel="rbf")
    with pytest.raises(InputError, match="unknown statistic"):
        graph_mmd("triangles", *small_sets)
