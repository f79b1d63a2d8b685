"""The codec between molecules and fragment graphs: round trips, canonical sites, dense
tensors, decoding faults, and MOSES' test set."""

import importlib.util
import itertools
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from fragment_cases import HARD_CASES, reference
from rdkit import Chem

import molgen.chem.fragment_vocabulary
import molgen.chem.ring_systems
from molgen.chem import parse_smiles
from molgen.chem.fragments import (
    FragmentGraph,
    FragmentVocabulary,
    decode_fragment_mols,
    decode_fragments,
    encode_fragments,
    fragment_graph_mol,
    fragment_graphs,
    mine_ring_systems,
    ring_systems_of,
)

needs_molsets = pytest.mark.skipif(
    importlib.util.find_spec("moses") is None, reason="molsets wheel not installed"
)


def random_smiles(smiles: str, seed: int) -> str:
    """Another SMILES of the same molecule, its atoms in a random order."""
    mol = Chem.MolFromSmiles(smiles)
    order = list(range(mol.GetNumAtoms()))
    random.Random(seed).shuffle(order)
    return Chem.MolToSmiles(Chem.RenumberAtoms(mol, order), canonical=False)


def edge_multiset(graph: FragmentGraph, vocab: FragmentVocabulary) -> list:
    """The graph's edges without node numbers: (bond, both ends as (node class, site))."""
    ends = []
    for i, j, bond, si, sj in graph.edges:
        pair = sorted([(graph.nodes[i], si), (graph.nodes[j], sj)])
        ends.append((bond, *pair))
    return sorted(ends)


# --------------------------------------------------------------------------- codec


@pytest.mark.parametrize(
    "home, names",
    [
        (molgen.chem.ring_systems, molgen.chem.ring_systems.__all__),
        (molgen.chem.fragment_vocabulary, molgen.chem.fragment_vocabulary.__all__),
    ],
)
def test_the_vocabulary_and_mining_are_importable_from_the_codec_module(home, names):
    # their home modules were split out of this one; code importing them from here still works
    namespace = {}
    exec(f"from molgen.chem.fragments import {', '.join(names)}", namespace)
    assert names and all(namespace[name] is getattr(home, name) for name in names)


@pytest.mark.parametrize("name", list(HARD_CASES))
def test_hard_cases_round_trip(name, hard_vocab):
    smiles = HARD_CASES[name]
    (graph,) = fragment_graphs([smiles], hard_vocab)
    assert graph.expanded == 0
    rings = [u.smiles for u in ring_systems_of(parse_smiles(smiles))]
    ring_nodes = [hard_vocab.ring_system(c) for c in graph.nodes]
    assert sorted(s.smiles for s in ring_nodes if s is not None) == sorted(rings)
    atoms = parse_smiles(smiles).GetNumAtoms()
    assert len(graph.nodes) == atoms - sum(
        len(u.atoms) - 1 for u in ring_systems_of(parse_smiles(smiles))
    )
    assert fragment_graph_mol(graph, hard_vocab).smiles == reference(smiles)
    assert decode_fragments(*encode_fragments(smiles, hard_vocab), hard_vocab) == [
        reference(smiles)
    ]


def test_ortho_meta_para_use_distinct_canonical_sites(hard_vocab):
    benzene = hard_vocab.node_class("c1ccccc1")
    sites = {}
    for name in ("ortho", "meta", "para"):
        graph = fragment_graphs([HARD_CASES[name]], hard_vocab)[0]
        ring = graph.nodes.index(benzene)
        sites[name] = sorted(e[3] if e[0] == ring else e[4] for e in graph.edges if ring in e[:2])
    # c1ccccc1's template atoms go round the ring, so o/m/p are 1, 2, 3 bonds apart
    assert sites == {"ortho": [0, 1], "meta": [0, 2], "para": [0, 3]}


@pytest.mark.parametrize(
    "name",
    [
        "ortho",
        "meta",
        "naphthalene, 2 substituents",
        "drug",
        "pyridine N-oxide",
        "indole NH",
        "double bond between two ring systems",
    ],
)
def test_every_smiles_of_a_molecule_gives_the_same_sites(name, hard_vocab):
    smiles = HARD_CASES[name]
    expected = edge_multiset(fragment_graphs([smiles], hard_vocab)[0], hard_vocab)
    for seed in range(8):
        other = random_smiles(smiles, seed)
        graph = fragment_graphs([other], hard_vocab)[0]
        assert edge_multiset(graph, hard_vocab) == expected, other


def test_rare_ring_systems_stay_atoms():
    vocab = FragmentVocabulary.from_smiles(
        ["c1ccccc1", "Cc1ccccc1", "c1ccncc1C"], num_ring_systems=1, max_nodes=10
    )
    assert vocab.ring_systems == ("c1ccccc1",)
    molecules = ["Cc1ccc(-c2ccncc2)cc1", "c1ccncc1", "Cc1ccccc1"]
    graphs = fragment_graphs(molecules, vocab)
    assert [g.expanded for g in graphs] == [1, 1, 0]
    assert [len(g.nodes) for g in graphs] == [1 + 1 + 6, 6, 2]
    # the expanded pyridine's ring bonds are kekulized edges between atom nodes
    pyridine = graphs[1]
    assert sorted(e[2] for e in pyridine.edges) == [1, 1, 1, 2, 2, 2]
    assert decode_fragments(*encode_fragments(molecules, vocab), vocab) == [
        reference(m) for m in molecules
    ]
    assert vocab.coverage(molecules) == pytest.approx(1 / 3)


def test_aromatic_vocabulary_keeps_aromatic_bonds_in_expanded_units():
    molecules = ["Cc1cc[nH]c1", "c1ccccc1", "C[n+]1ccccc1"]
    vocab = FragmentVocabulary.from_smiles(molecules, num_ring_systems=1, aromatic=True)
    assert vocab.aromatic and "NH" in vocab.atom_types
    graphs = fragment_graphs(molecules, vocab)
    aromatic = vocab.atom_vocabulary.bond_class("AROMATIC")
    assert sum(e[2] == aromatic for e in graphs[0].edges) == 5
    assert decode_fragments(*encode_fragments(molecules, vocab), vocab) == [
        reference(m) for m in molecules
    ]


def test_encoding_problems_are_reported():
    vocab = FragmentVocabulary(("C", "O"), ("c1ccccc1",), ("SINGLE", "DOUBLE"), max_nodes=3)
    graphs = fragment_graphs(["CCCC", "CN", "C1CC", "Cc1ccccc1"], vocab)
    assert "max_nodes=3" in graphs[0]
    assert "'N'" in graphs[1]
    assert "C1CC" in graphs[2]
    assert isinstance(graphs[3], FragmentGraph)
    with pytest.raises(ValueError, match="cannot encode SMILES 'CN'"):
        encode_fragments(["CN"], vocab)


def test_dense_tensors_hold_nodes_bonds_and_sites(hard_vocab):
    smiles = ["Cc1ccc(Cl)cc1", "CCO"]
    nodes, adj, sites = encode_fragments(smiles, hard_vocab)
    n = hard_vocab.max_nodes
    assert nodes.shape == (2, n) and adj.shape == sites.shape == (2, n, n)
    assert torch.equal(adj, adj.transpose(1, 2))
    for m, graph in enumerate(fragment_graphs(smiles, hard_vocab)):
        assert nodes[m, : len(graph.nodes)].tolist() == list(graph.nodes)
        assert (nodes[m, len(graph.nodes) :] == 0).all()
        assert int((adj[m] > 0).sum()) == 2 * len(graph.edges)
        for i, j, bond, si, sj in graph.edges:
            assert (adj[m, i, j], sites[m, i, j], sites[m, j, i]) == (bond, si, sj)
    one_hot = decode_fragments(
        F.one_hot(nodes, hard_vocab.num_node_types).float(),
        F.one_hot(adj, hard_vocab.num_bond_types).float(),
        F.one_hot(sites, hard_vocab.max_sites).float(),
        hard_vocab,
    )
    assert (
        one_hot == decode_fragments(nodes, adj, sites, hard_vocab) == [reference(s) for s in smiles]
    )


def test_decode_rejects_sites_outside_the_system_or_beyond_their_budget(hard_vocab):
    benzene = hard_vocab.node_class("c1ccccc1")
    carbon, oxygen = hard_vocab.node_class("C"), hard_vocab.node_class("O")
    single = hard_vocab.atom_vocabulary.bond_class("SINGLE")
    double = hard_vocab.atom_vocabulary.bond_class("DOUBLE")
    ok = FragmentGraph((benzene, carbon), ((0, 1, single, 5, 0),))
    assert fragment_graph_mol(ok, hard_vocab).smiles == "Cc1ccccc1"
    outside = FragmentGraph((benzene, carbon), ((0, 1, single, 6, 0),))
    assert fragment_graph_mol(outside, hard_vocab).reason == "parse"
    over_budget = FragmentGraph((benzene, oxygen), ((0, 1, double, 0, 0),))
    assert fragment_graph_mol(over_budget, hard_vocab).reason == "valence"
    twice = FragmentGraph((benzene, carbon, carbon), ((0, 1, single, 2, 0), (0, 2, single, 2, 0)))
    assert fragment_graph_mol(twice, hard_vocab).reason == "valence"
    unknown = FragmentGraph((hard_vocab.num_node_types,), ())
    assert fragment_graph_mol(unknown, hard_vocab).reason == "parse"
    disconnected = FragmentGraph((benzene, carbon), ())
    checked = decode_fragment_mols(
        torch.tensor([[benzene, carbon]]),
        torch.zeros(1, 2, 2, dtype=torch.long),
        torch.zeros(1, 2, 2, dtype=torch.long),
        hard_vocab,
    )[0]
    assert checked.reason == "disconnected" == fragment_graph_mol(disconnected, hard_vocab).reason


# --------------------------------------------------------------------------- MOSES


def moses_round_trip(train_n: int, test_every: int, coverage: float, n_jobs: int | None):
    """Mine ``train_n`` training molecules spread over MOSES' (ordered) training file, then
    check that every ``test_every``-th test molecule round-trips, covered or not; returns which
    were covered."""
    from molgen.data.sources import read_moses
    from molgen.metrics.moses import read_moses_split

    train = [r.smiles for r in itertools.islice(read_moses(), 0, None, 1_584_663 // train_n)]
    vocab = FragmentVocabulary.from_smiles(train, coverage=coverage, n_jobs=n_jobs)
    test = read_moses_split("test")[::test_every]
    mined = mine_ring_systems(test, n_jobs=n_jobs)
    covered = mined.covered(vocab.ring_systems)
    counts = mined.node_counts(vocab.ring_systems)
    vocab = FragmentVocabulary(
        vocab.atom_types, vocab.ring_systems, vocab.bond_types, int(counts.max())
    )
    graphs = fragment_graphs(test, vocab, n_jobs=n_jobs)
    assert [len(g.nodes) for g in graphs] == counts.tolist()
    assert [g.expanded == 0 for g in graphs] == covered.tolist()
    decoded = decode_fragments(*encode_fragments(test, vocab, n_jobs=n_jobs), vocab, n_jobs=n_jobs)
    wrong = [(s, d) for s, d in zip(test, decoded, strict=True) if reference(s) != d]
    assert not wrong, wrong[:5]
    return covered


@needs_molsets
def test_moses_test_sample_round_trips():
    covered = moses_round_trip(2_000, 88, coverage=0.9, n_jobs=None)  # 2,001 test molecules
    assert 0.5 < covered.mean() < 1.0


@needs_molsets
@pytest.mark.slow
@pytest.mark.timeout(3600)  # ~10 CPU-minutes: all 176,074 test molecules mined, encoded, decoded
def test_moses_whole_test_set_round_trips():
    covered = moses_round_trip(20_000, 1, coverage=0.98, n_jobs=-1)
    assert covered.mean() > 0.9


# --------------------------------------------------------------------------- script


@needs_molsets
def test_coverage_script_prints_a_row_per_k(capsys):
    path = Path(__file__).resolve().parents[2] / "scripts" / "fragment_coverage.py"
    spec = importlib.util.spec_from_file_location("fragment_coverage", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(
        ["--train", "300", "--test", "200", "--encode", "100", "--ks", "5", "50", "all"]
    )
    assert [r["K"] for r in rows][:2] == [5, 50] and rows[2]["K"] > 50
    assert rows[2]["train_covered"] == 1.0
    assert rows[0]["train_covered"] <= rows[1]["train_covered"] <= rows[2]["train_covered"]
    assert rows[2]["nodes_mean"] <= rows[1]["nodes_mean"] <= rows[0]["nodes_mean"]
    assert all(r["round_trip"] == 1.0 for r in rows)
    assert "train cov" in capsys.readouterr().out
