"""V.U.N., the report of every graph metric, and the graph metrics' freedom from RDKit."""

import ast
from pathlib import Path

import networkx as nx
import pytest

import molgen
import molgen.metrics.graph_mmd
import molgen.metrics.graph_validity
from molgen.errors import InputError
from molgen.metrics.graphs import (
    evaluate_graphs,
    graph_mmd,
    is_planar_graph,
    isomorphism_classes,
    vun,
)

# ---------------------------------------------------------------------------------- V.U.N.


def test_vun_on_hand_made_graphs():
    relabelled = nx.relabel_nodes(nx.cycle_graph(4), {0: 2, 1: 0, 2: 3, 3: 1})
    generated = [
        nx.cycle_graph(4),  # valid, unique, novel
        relabelled,  # repeats the first
        nx.complete_graph(4),  # valid, unique, in the training set
        nx.path_graph(4),  # valid, unique, novel
        nx.complete_graph(5),  # not planar
        nx.Graph([(0, 1), (2, 3)]),  # not connected
    ]
    train = [nx.complete_graph(4), nx.star_graph(3)]
    out = vun(generated, train, is_planar_graph)
    assert out == {
        "uniqueness": 5 / 6,
        "novelty": 5 / 6,
        "unique_novel": 4 / 6,
        "validity": 4 / 6,
        "vun": 2 / 6,
    }
    assert vun(generated) == {"uniqueness": 5 / 6}


@pytest.mark.filterwarnings("ignore:The hashes produced")
def test_isomorphism_is_checked_exactly_within_a_hash_bucket():
    # K3,3 and the prism are both 3-regular on 6 nodes: same WL hash, not isomorphic
    k33, prism = nx.complete_bipartite_graph(3, 3), nx.circular_ladder_graph(3)
    assert nx.weisfeiler_lehman_graph_hash(k33) == nx.weisfeiler_lehman_graph_hash(prism)
    assert isomorphism_classes([k33, prism, nx.relabel_nodes(k33, {0: 5, 5: 0})]) == [0, 1, 0]


# ----------------------------------------------------------------------------- the report


def test_evaluate_graphs_keys_and_kernel_choice(small_sets):
    generated, reference = small_sets
    out = evaluate_graphs(generated, reference, train=reference, benchmark="planar")
    assert list(out.metrics) == [
        "degree_mmd",
        "clustering_mmd",
        "orbit_mmd",
        "spectral_mmd",
        "uniqueness",
        "novelty",
        "unique_novel",
        "validity",
        "vun",
    ]
    assert out.kernel == "tv" and set(out.definitions) == set(out.metrics)
    community = evaluate_graphs(generated, reference, benchmark="community_small")
    assert community.kernel == "emd" and "validity" not in community.metrics
    assert community.metrics["degree_mmd"] == graph_mmd("degree", generated, reference, "emd")
    with pytest.raises(InputError, match="unknown graph benchmark"):
        evaluate_graphs(generated, reference, benchmark="grid")


def test_graph_modules_import_no_rdkit():
    root = Path(molgen.__file__).parent
    modules = (
        "data/graphs.py",
        "metrics/graphs.py",
        "metrics/graph_mmd.py",
        "metrics/graph_validity.py",
        "commands/evaluate_graphs.py",
    )
    for module in modules:
        tree = ast.parse((root / module).read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {n for n in names if n.startswith(("rdkit", "molgen.chem"))}, module


@pytest.mark.parametrize(
    "home", [molgen.metrics.graph_mmd, molgen.metrics.graph_validity], ids=lambda m: m.__name__
)
def test_the_mmds_and_validity_tests_are_importable_from_the_report_module(home):
    # their home modules were split out of this one; code importing them from here still works
    namespace = {}
    exec(f"from molgen.metrics.graphs import {', '.join(home.__all__)}", namespace)
    assert home.__all__ and all(namespace[name] is getattr(home, name) for name in home.__all__)
