"""Smoke test of scripts/sbm_prior.py: the splits it compares, the block-model graphs it draws,
and a few graphs of each row."""

import networkx as nx
import numpy as np
import pytest


@pytest.mark.parametrize(("n", "size", "expected"), [(70, 35, [35, 35]), (71, 35, [24, 24, 23])])
def test_an_even_split_has_ceil_n_over_s_communities_within_one_node(module, n, size, expected):
    assert module.even_split(n, size) == expected


def test_the_recipes_split_adds_up_to_the_node_count_within_the_recipes_bounds(module):
    rng = np.random.default_rng(0)
    for n in (43, 100, 172):
        sizes = module.recipe_split(n, rng)
        assert sum(sizes) == n and 2 <= len(sizes) <= 5
        assert all(20 <= s <= 40 for s in sizes)


def test_a_block_model_graphs_edge_frequencies_follow_its_densities(module):
    rng = np.random.default_rng(0)
    sizes, draws = [30, 30], 20
    within = between = 0
    for _ in range(draws):
        graph = module.block_model_graph(sizes, (0.3, 0.05), rng)
        for a, b in graph.edges():
            within += (a < 30) == (b < 30)
            between += (a < 30) != (b < 30)
    pairs_within, pairs_between = draws * 2 * 30 * 29 / 2, draws * 30 * 30
    # binomial standard errors: about 0.0036 and 0.0016
    assert within / pairs_within == pytest.approx(0.3, abs=0.015)
    assert between / pairs_between == pytest.approx(0.05, abs=0.007)
    assert nx.number_of_nodes(graph) == 60


def test_every_row_is_scored(module, capsys):
    rows = module.main(["--samples", "3", "--sizes", "35"])
    assert list(rows) == ["training graphs", "recipe", "recipe's split", "even, S = 35"]
    assert rows["training graphs"]["vun"] == 0  # not novel
    assert all(0 <= row["vun"] <= 1 and row["degree_mmd"] >= 0 for row in rows.values())
    assert "even, S = 35" in capsys.readouterr().out
