import networkx as nx
import pytest


@pytest.fixture(scope="module")
def small_sets():
    """Small generated and reference graph sets of different families."""
    generated = [nx.gnp_random_graph(n, 0.3, seed=n) for n in (8, 10, 12, 9)]
    reference = [nx.cycle_graph(7), nx.path_graph(6), nx.complete_graph(5), nx.wheel_graph(8)]
    return generated, reference
