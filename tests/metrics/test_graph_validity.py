"""Validity of planar and SBM graphs, and the block-model inference behind the SBM test."""

import itertools

import networkx as nx
import numpy as np
import pytest

from molgen.data.graphs import sbm_graphs
from molgen.metrics.graph_validity import (
    _description_length,
    _log_partitions,
    is_planar_graph,
    is_sbm_graph,
    sbm_blocks,
    sbm_wald_pvalue,
)


def test_is_planar_graph():
    assert is_planar_graph(nx.grid_2d_graph(4, 4))
    assert not is_planar_graph(nx.complete_bipartite_graph(3, 3))
    assert not is_planar_graph(nx.Graph([(0, 1), (2, 3)]))
    assert not is_planar_graph(nx.empty_graph(0))


def _exact_block_graph():
    """Two blocks of 20 nodes with exactly 0.3 of the pairs inside each block and 0.005 of
    those between them joined."""
    graph = nx.empty_graph(40)
    for offset in (0, 20):
        pairs = list(itertools.combinations(range(offset, offset + 20), 2))
        graph.add_edges_from(pairs[i] for i in range(0, 190, 190 // 57)[:57])
    graph.add_edges_from([(0, 20), (5, 30)])
    return graph, np.repeat([0, 1], 20)


def test_sbm_wald_pvalue():
    graph, blocks = _exact_block_graph()
    assert graph.number_of_edges() == 57 * 2 + 2
    assert sbm_wald_pvalue(graph, blocks) == pytest.approx(1.0, abs=1e-6)
    # densities far from 0.3/0.005: intra 1.0 (cliques), inter 0 -> small p-values
    cliques = nx.disjoint_union(nx.complete_graph(20), nx.complete_graph(20))
    assert sbm_wald_pvalue(cliques, blocks) < 0.6


def test_is_sbm_graph_on_planted_and_other_graphs():
    accepted = 0
    for graph in sbm_graphs(3, seed=3):
        truth = np.repeat(np.arange(len(graph.graph["blocks"])), graph.graph["blocks"])
        blocks = sbm_blocks(graph)
        pairs = set(zip(truth.tolist(), blocks.tolist(), strict=True))
        assert len(pairs) == len(graph.graph["blocks"])  # the same partition, relabelled
        accepted += bool(is_sbm_graph(graph, blocks=blocks))
    assert accepted >= 2
    assert not is_sbm_graph(nx.gnp_random_graph(100, 0.1, seed=0))
    assert not is_sbm_graph(nx.empty_graph(0))
    # one block: strict rejects; without strict, the p-value (densities 1 vs 0.3: small)
    assert not is_sbm_graph(nx.complete_graph(30), blocks=np.zeros(30, dtype=int))
    assert sbm_blocks(nx.complete_graph(30)).max() == 0
    assert is_sbm_graph(nx.complete_graph(30), strict=False) < 0.1


def test_partition_counts_of_the_degree_prior():
    q = np.round(np.exp(_log_partitions(10, 10))).astype(int)
    assert q[:, 10].tolist() == [1, 1, 2, 3, 5, 7, 11, 15, 22, 30, 42]  # partition numbers
    assert q[5, 2] == 3 and q[6, 3] == 7 and q[4, 0] == 0  # {5, 41, 32}; 6 in <= 3 parts


def test_description_length_prefers_the_planted_blocks():
    graph = sbm_graphs(1, seed=4)[0]
    a = nx.to_numpy_array(graph)
    truth = np.repeat(np.arange(len(graph.graph["blocks"])), graph.graph["blocks"])
    shuffled = np.random.default_rng(0).permutation(truth)
    one_block = np.zeros_like(truth)
    assert _description_length(a, truth) < _description_length(a, one_block)
    assert _description_length(a, one_block) < _description_length(a, shuffled)
