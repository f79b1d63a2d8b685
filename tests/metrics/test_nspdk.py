"""NSPDK vectors and their MMD (GDSS's definition) against hand-computed values and an explicit,
hash-free computation of the same features; the metric in molgen's and GDSS's reports."""

import math
import random
from collections import Counter, defaultdict

import networkx as nx
import numpy as np
import pytest

from molgen.chem.labelled import labelled_graph, labelled_graphs
from molgen.chem.mol import parse_smiles
from molgen.metrics import compute_metrics, get_benchmark
from molgen.metrics.nspdk import (
    NSPDK_FEATURE_SIZE,
    mean_nspdk_vector,
    nspdk_mmd,
    nspdk_vector,
    stable_label_hash,
)

SMALL = ["C", "CO", "CC", "C=O", "CC#N", "c1ccccc1", "CC(=O)O", "C1CC1N", "OCC=CF", "C.O"]


def _dense(vector) -> np.ndarray:
    indices, values = vector
    out = np.zeros(NSPDK_FEATURE_SIZE)
    out[indices] = values
    return out


def _explicit_features(graph: nx.Graph, radius: int = 4, distance: int = 4) -> dict:
    """The NSPDK features with explicit keys instead of hashes: a rooted neighbourhood of radius
    r is the tuple, per distance 0..2r in the graph with each edge subdivided, of the sorted
    (label, degree) of the nodes there; the features of a pair (v, u) at distance 2d are
    ("pair", the two neighbourhoods sorted, r, d) and ("half", u's, r, d). Each (r, d) block
    is scaled to unit norm, then the whole vector."""
    subdivided = nx.Graph()
    for node, data in graph.nodes(data=True):
        subdivided.add_node(("atom", node), label=data["label"])
    for u, v, data in graph.edges(data=True):
        subdivided.add_node(("bond", u, v), label=data["label"])
        subdivided.add_edges_from([(("bond", u, v), ("atom", u)), (("bond", u, v), ("atom", v))])
    atoms = [("atom", node) for node in graph.nodes]
    lengths = {v: nx.single_source_shortest_path_length(subdivided, v) for v in atoms}

    def neighbourhood(v, r):
        if max(lengths[v].values()) < 2 * r:  # it does not reach that far
            return None
        return tuple(
            tuple(
                sorted(
                    (subdivided.nodes[w]["label"], subdivided.degree[w])
                    for w, k in lengths[v].items()
                    if k == level
                )
            )
            for level in range(2 * r + 1)
        )

    blocks = defaultdict(Counter)
    for v in atoms:
        for u in atoms:
            d2 = lengths[v].get(u)
            if d2 is None or d2 > 2 * distance:
                continue
            for r in range(radius + 1):
                nv, nu = neighbourhood(v, r), neighbourhood(u, r)
                if nv is None or nu is None:
                    continue
                blocks[r, d2 // 2][("pair", tuple(sorted([nv, nu])), r, d2 // 2)] += 1
                blocks[r, d2 // 2][("half", nu, r, d2 // 2)] += 1
    vector = {}
    for block in blocks.values():
        norm = math.sqrt(sum(c * c for c in block.values()))
        vector.update({key: c / norm for key, c in block.items()})
    total = math.sqrt(sum(x * x for x in vector.values()))
    return {key: x / total for key, x in vector.items()}


def _explicit_kernel(a: dict, b: dict) -> float:
    return sum(x * b.get(key, 0.0) for key, x in a.items())


def test_one_bond_by_hand():
    # C-O: blocks (r,d) = (0,0), (1,0): four features of count 1 each (pair and half, per end);
    # (0,1), (1,1): the pair seen from both ends (2) and each end's half (1, 1); each block to
    # unit norm, then the four blocks together (norm 2)
    indices, values = nspdk_vector(labelled_graph(parse_smiles("CO")))
    expected = [0.25] * 8 + [1 / (2 * math.sqrt(6))] * 4 + [1 / math.sqrt(6)] * 2
    assert sorted(values) == pytest.approx(sorted(expected), abs=1e-15)
    assert len(set(indices.tolist())) == 14 and indices.min() >= 1
    assert indices.max() < NSPDK_FEATURE_SIZE and np.all(np.diff(indices) > 0)
    # C-C: both ends alike, so each block is one pair and one half feature of count 2
    cc = nspdk_vector(labelled_graph(parse_smiles("CC")))
    assert cc[1] == pytest.approx([1 / (2 * math.sqrt(2))] * 8, abs=1e-15)
    # shared: the radius-0 pair and half of C at d=0 and the radius-0 half of C at d=1
    kernel = _dense(cc) @ _dense((indices, values))
    assert kernel == pytest.approx(1 / (4 * math.sqrt(2)) + 1 / (8 * math.sqrt(3)), abs=1e-15)


def test_one_atom_has_its_own_pair_and_half_feature():
    indices, values = nspdk_vector(labelled_graph(parse_smiles("C")))
    assert len(indices) == 2 and values == pytest.approx([1 / math.sqrt(2)] * 2)


def _shifted_hash(label) -> int:
    """Labels hashed so that no two features of the small molecules share a 16-bit index
    (the default hash gives two of OCC=CF's 131 features the same index)."""
    return stable_label_hash(label) + 1000 if isinstance(label, str) else hash(label)


def test_vectors_agree_with_the_explicit_features_on_small_molecules():
    graphs = labelled_graphs(SMALL)
    hashed = [_dense(nspdk_vector(g, label_hash=_shifted_hash)) for g in graphs]
    explicit = [_explicit_features(g) for g in graphs]
    for smiles, vector, features in zip(SMALL, hashed, explicit, strict=True):
        assert np.count_nonzero(vector) == len(features), smiles  # no collision
        default = nspdk_vector(labelled_graph(parse_smiles(smiles)))
        assert len(default[0]) == len(features) - 2 * (smiles == "OCC=CF")
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-12)
    for i in range(len(graphs)):
        for j in range(len(graphs)):
            want = _explicit_kernel(explicit[i], explicit[j])
            assert hashed[i] @ hashed[j] == pytest.approx(want, abs=1e-12), (SMALL[i], SMALL[j])


def test_the_vector_does_not_depend_on_node_order():
    graph = labelled_graph(parse_smiles("CC(=O)Nc1ccc(O)cc1"))
    order = list(graph.nodes)
    random.Random(0).shuffle(order)
    relabelled = nx.relabel_nodes(graph, dict(zip(graph.nodes, order, strict=True)))
    shuffled = nx.Graph()
    shuffled.add_nodes_from(sorted(relabelled.nodes(data=True)))
    shuffled.add_edges_from(relabelled.edges(data=True))
    a, b = nspdk_vector(graph), nspdk_vector(shuffled)
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1], atol=1e-15)


def test_label_hashes_are_stable_and_keep_elements_and_bond_orders_apart():
    elements = ["C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se", "H"]
    hlabels = [(stable_label_hash(label) & 0xFFFF) + 1 for label in [*elements, 1, 2, 3]]
    assert len(set(hlabels)) == len(hlabels)
    assert stable_label_hash("C") == int.from_bytes(
        __import__("hashlib").blake2b(b"C", digest_size=8).digest(), "little"
    )
    assert stable_label_hash(2) == 2


def test_a_graph_without_nodes_or_labels_is_refused():
    with pytest.raises(ValueError, match="empty graph"):
        nspdk_vector(nx.Graph())
    graph = nx.Graph()
    graph.add_node("a", label="C")
    with pytest.raises(ValueError, match="integers"):
        nspdk_vector(graph)


def _pairwise_mmd(xs: list, ys: list) -> float:
    """GDSS's formula with the kernel matrices written out."""
    x, y = np.array([_dense(v) for v in xs]), np.array([_dense(v) for v in ys])
    return (x @ x.T).mean() + (y @ y.T).mean() - 2 * (x @ y.T).mean()


def test_mmd_is_gdss_pairwise_formula_zero_on_identical_sets_and_symmetric():
    a, b = labelled_graphs(SMALL[:6]), labelled_graphs(SMALL[4:])
    mmd = nspdk_mmd(a, b)
    pairwise = _pairwise_mmd([nspdk_vector(g) for g in a], [nspdk_vector(g) for g in b])
    assert mmd == pytest.approx(pairwise, abs=1e-14)
    assert mmd > 0.05 and nspdk_mmd(b, a) == pytest.approx(mmd, abs=1e-15)
    assert nspdk_mmd(a, list(reversed(a))) == pytest.approx(0.0, abs=1e-15)
    assert math.isnan(nspdk_mmd([], b))


def test_weighted_mean_counts_duplicates():
    vectors = [nspdk_vector(g) for g in labelled_graphs(["CO", "CC"])]
    repeated = mean_nspdk_vector([vectors[0], vectors[0], vectors[1]])
    assert np.allclose(mean_nspdk_vector(vectors, [2, 1]), repeated, atol=1e-15)
    assert not mean_nspdk_vector([]).any()


def test_nspdk_in_molgen_and_gdss_reports_is_the_mmd_of_the_valid_molecules():
    samples = ["CCO", "CCO", "c1ccccc1O", "CC.O", "C1CC1", "XX", ""]
    reference = ["CCN", "CCO", "c1ccccc1", "CC#N"]
    want_strict = nspdk_mmd(
        labelled_graphs(["CCO", "CCO", "Oc1ccccc1", "C1CC1"]), labelled_graphs(reference)
    )
    assert compute_metrics(samples, reference, metrics={"nspdk"})["nspdk"] == pytest.approx(
        want_strict, abs=1e-12
    )
    assert compute_metrics(reference, reference, metrics={"nspdk"})["nspdk"] == pytest.approx(
        0.0, abs=1e-14
    )
    # GDSS: fragments allowed
    gdss = compute_metrics(
        samples, {"test": reference}, metrics={"nspdk"}, benchmark=get_benchmark("gdss")
    )
    valid = ["CCO", "CCO", "Oc1ccccc1", "CC.O", "C1CC1"]
    want = nspdk_mmd(labelled_graphs(valid), labelled_graphs(reference))
    assert gdss["nspdk"] == pytest.approx(want, abs=1e-12) and want != pytest.approx(want_strict)
