import math

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from molgen.data.graphs import (
    GRAPH_DATASETS,
    block_model_graph,
    community_sizes,
    community_small_graphs,
    from_pyg,
    generate_graphs,
    load_graph_dataset,
    planar_graphs,
    read_graphs,
    sbm_graphs,
    spectre_split,
    to_dense,
)
from molgen.errors import InputError, MissingFileError


@pytest.fixture(scope="module")
def planar():
    return planar_graphs()


@pytest.fixture(scope="module")
def sbm():
    return sbm_graphs()


def test_planar_recipe(planar):
    assert len(planar) == 200
    rng = np.random.default_rng(0)  # the recipe's draws: 64 points per graph, in order
    for graph in planar:
        points = rng.random((64, 2))
        assert graph.number_of_nodes() == 64
        assert nx.is_connected(graph) and nx.check_planarity(graph)[0]
        # a triangulation of points in general position has 3n - 3 - (hull vertices) edges
        assert graph.number_of_edges() == 3 * 64 - 3 - len(ConvexHull(points).vertices)


def test_generators_are_seeded():
    first, again, other = planar_graphs(3, seed=5), planar_graphs(3, seed=5), planar_graphs(3)
    assert [sorted(g.edges()) for g in first] == [sorted(g.edges()) for g in again]
    assert [sorted(g.edges()) for g in first] != [sorted(g.edges()) for g in other]


def test_sbm_recipe_sizes_and_densities(sbm):
    assert len(sbm) == 200
    within = within_edges = between = between_edges = 0
    for graph in sbm:
        sizes = graph.graph["blocks"]
        assert 2 <= len(sizes) <= 5 and all(20 <= s <= 40 for s in sizes)
        assert graph.number_of_nodes() == sum(sizes)
        block = np.repeat(np.arange(len(sizes)), sizes)
        for u, v in graph.edges():
            if block[u] == block[v]:
                within_edges += 1
            else:
                between_edges += 1
        within += sum(s * (s - 1) // 2 for s in sizes)
        between += (sum(sizes) ** 2 - sum(s * s for s in sizes)) // 2
    for edges, pairs, p in ((within_edges, within, 0.3), (between_edges, between, 0.005)):
        # binomial: the estimate lies within 5 standard deviations of p
        assert abs(edges / pairs - p) < 5 * math.sqrt(p * (1 - p) / pairs)


def test_a_block_model_graphs_edge_frequencies_follow_its_densities():
    rng = np.random.default_rng(0)
    sizes, draws = [30, 30], 20
    within = between = 0
    for _ in range(draws):
        graph = block_model_graph(sizes, 0.3, 0.05, rng)
        for a, b in graph.edges():
            within += (a < 30) == (b < 30)
            between += (a < 30) != (b < 30)
    pairs_within, pairs_between = draws * 2 * 30 * 29 / 2, draws * 30 * 30
    # binomial standard errors: about 0.0036 and 0.0016
    assert within / pairs_within == pytest.approx(0.3, abs=0.015)
    assert between / pairs_between == pytest.approx(0.05, abs=0.007)
    assert nx.number_of_nodes(graph) == 60


def test_sbm_community_counts_cover_the_range(sbm):
    counts = {len(g.graph["blocks"]) for g in sbm}
    assert counts == {2, 3, 4, 5}


def test_community_sizes_are_the_cliques_of_a_chain_and_the_isolated_node_largest_first():
    graph = nx.disjoint_union_all(
        [nx.complete_graph(4), nx.complete_graph(6), nx.complete_graph(5)]
    )
    graph.add_edges_from([(3, 4), (9, 10)])  # the cliques joined in a chain by one edge each
    graph.add_node(15)
    assert community_sizes(graph) == (6, 5, 4, 1)
    assert community_sizes(graph) == community_sizes(graph.copy())  # seeded


def test_community_sizes_recover_most_block_models_blocks(sbm):
    # 0.3 within and 0.005 between: 194 of the 200 graphs' blocks exactly
    found = sum(community_sizes(g) == tuple(sorted(g.graph["blocks"], reverse=True)) for g in sbm)
    assert found >= 190


def test_community_small_recipe():
    graphs = community_small_graphs()
    assert len(graphs) == 100
    for graph in graphs:
        n = graph.number_of_nodes()
        assert n % 2 == 0 and 12 <= n <= 20
        half = n // 2
        for c, nodes in enumerate((range(half), range(half, n))):
            community = nx.convert_node_labels_to_integers(graph.subgraph(nodes))
            expected = nx.gnp_random_graph(half, 0.7, seed=c)
            assert sorted(community.edges()) == sorted(expected.edges())
        bridges = [(u, v) for u, v in graph.edges() if (u < half) != (v < half)]
        assert len(bridges) >= 1


def test_spectre_split_matches_torch_random_split():
    for n, sizes in ((200, (128, 32, 40)), (100, (64, 16, 20))):
        train, val, test = spectre_split(n)
        assert (len(train), len(val), len(test)) == sizes
        assert sorted(train + val + test) == list(range(n))
        generator = torch.Generator().manual_seed(1234)
        expected = torch.utils.data.random_split(range(n), list(sizes), generator=generator)
        assert [list(part) for part in expected] == [train, val, test]


def test_load_graph_dataset_dense_layout():
    ds = load_graph_dataset("community_small")
    assert ds.info["sizes"] == {"train": 64, "val": 16, "test": 20}
    n = ds.info["nodes"]["max"]
    for split in (ds.train, ds.val, ds.test):
        assert split.adj.shape[1:] == (n, n) and split.adj.dtype == torch.uint8
        assert torch.equal(split.adj, split.adj.transpose(1, 2))
        assert torch.equal(split.mask, split.x != 0)
        for i, graph in enumerate(split.graphs):
            k = graph.number_of_nodes()
            assert int(split.n_nodes[i]) == k
            assert split.adj[i, k:].sum() == 0 and split.adj[i, :, k:].sum() == 0
            back = nx.from_numpy_array(split.adj[i, :k, :k].numpy())
            assert sorted(back.edges()) == sorted(graph.edges())
        x, adj = split[0]
        assert x.dtype == adj.dtype == torch.int64


def test_every_dataset_name_generates():
    assert set(GRAPH_DATASETS) == {"planar", "sbm", "community_small"}
    with pytest.raises(InputError, match="unknown graph dataset"):
        generate_graphs("grid")


def test_to_dense_rejects_too_many_nodes():
    with pytest.raises(InputError, match="max_nodes=3"):
        to_dense([nx.path_graph(5)], max_nodes=3)


def test_read_edge_list_with_comments_isolated_nodes_and_self_loops(tmp_path):
    path = tmp_path / "g.edgelist"
    path.write_text("# a comment\na b 1.0\nb c  # trailing\nd\nc c\n")
    (graph,) = read_graphs(path)
    assert list(graph.nodes()) == ["a", "b", "c", "d"]
    assert sorted(graph.edges()) == [("a", "b"), ("b", "c")]


def test_read_folder_of_mixed_formats(tmp_path):
    nx.write_graphml(nx.cycle_graph(5), tmp_path / "a.graphml")
    nx.write_edgelist(nx.path_graph(4), tmp_path / "b.edgelist", data=False)
    (tmp_path / "c.g6").write_bytes(
        nx.to_graph6_bytes(nx.complete_graph(4), header=False)
        + nx.to_graph6_bytes(nx.star_graph(3), header=False)
    )
    (tmp_path / "notes.md").write_text("not a graph")
    graphs = read_graphs(tmp_path)
    expected = [nx.cycle_graph(5), nx.path_graph(4), nx.complete_graph(4), nx.star_graph(3)]
    assert len(graphs) == 4
    assert all(nx.is_isomorphic(g, e) for g, e in zip(graphs, expected, strict=True))


def test_read_directed_graphml_as_undirected(tmp_path):
    nx.write_graphml(nx.DiGraph([(0, 1), (1, 0), (1, 2)]), tmp_path / "d.graphml")
    (graph,) = read_graphs(tmp_path / "d.graphml")
    assert not graph.is_directed() and graph.number_of_edges() == 2


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(MissingFileError):
        read_graphs(tmp_path / "missing")
    with pytest.raises(InputError, match="no graph files"):
        read_graphs(tmp_path)
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(InputError, match="unknown graph file ending"):
        read_graphs(tmp_path / "x.csv")
    bad = tmp_path / "bad.g6"
    bad.write_bytes(nx.to_graph6_bytes(nx.path_graph(3), header=False) + b"~~~~\n")
    with pytest.raises(InputError, match=r"bad\.g6:2"):
        read_graphs(bad)
    graphml = tmp_path / "bad.graphml"
    graphml.write_text("<graphml><graph")
    with pytest.raises(InputError, match=r"bad\.graphml"):
        read_graphs(graphml)


def test_load_graph_dataset_from_files(tmp_path):
    for i in range(10):
        nx.write_edgelist(nx.path_graph(i + 3), tmp_path / f"{i}.edgelist", data=False)
    ds = load_graph_dataset(path=tmp_path)
    assert ds.info["sizes"] == {"train": 6, "val": 2, "test": 2}
    assert ds.train.adj.shape[1] == 12
    with pytest.raises(InputError, match="exactly one"):
        load_graph_dataset("planar", path=tmp_path)


def test_from_pyg():
    from torch_geometric.data import Data

    data = [
        Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=4),
        Data(edge_index=torch.tensor([[0, 0], [0, 1]]), num_nodes=2),
    ]
    first, second = from_pyg(data)
    assert first.number_of_nodes() == 4 and sorted(first.edges()) == [(0, 1), (1, 2)]
    assert sorted(second.edges()) == [(0, 1)]  # the self-loop is dropped
