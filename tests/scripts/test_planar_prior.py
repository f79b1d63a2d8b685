"""Smoke test of scripts/planar_prior.py: the Delaunay graphs it compares with, and a few
drawn graphs of each layout."""

import networkx as nx
import numpy as np
from scipy.spatial import ConvexHull


def test_delaunay_graphs_are_triangulations_of_the_points(module):
    points = np.random.default_rng(0).random((30, 2))
    graph = module.delaunay_graph(points)
    hull = len(ConvexHull(points).vertices)
    # Euler: a triangulation of n points with h on the hull has 3n - 3 - h edges
    assert graph.number_of_edges() == 3 * 30 - 3 - hull
    assert nx.check_planarity(graph)[0] and nx.is_connected(graph)


def test_every_drawn_layout_gives_valid_novel_graphs(module, capsys):
    rows = module.main(["--samples", "3", "--spacing", "0.8"])
    assert list(rows) == [
        "training graphs",
        "Delaunay",
        "rounds",
        "score order",
        "greedy",
        "spaced 0.8",
    ]
    assert rows["training graphs"]["vun"] == 0  # not novel
    assert all(rows[name]["vun"] == 1 for name in list(rows)[1:])  # planar, connected, new
    assert all(row["edges"] <= 3 * 64 - 6 for row in rows.values())
    assert "spaced 0.8" in capsys.readouterr().out
