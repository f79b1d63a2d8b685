"""Smoke test of scripts/sbm_prior.py: the splits it compares, and a few graphs of each row."""

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


def test_every_row_is_scored(module, capsys):
    rows = module.main(["--samples", "3", "--sizes", "35"])
    names = ["training graphs", "recipe", "recipe's split", "data's split", "even, S = 35"]
    assert list(rows) == names
    assert rows["training graphs"]["vun"] == 0  # not novel
    assert all(0 <= row["vun"] <= 1 and row["degree_mmd"] >= 0 for row in rows.values())
    assert "even, S = 35" in capsys.readouterr().out
