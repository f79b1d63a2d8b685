import importlib.util
import itertools
import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from rdkit import Chem

from molgen.chem import canonical_smiles, parse_smiles
from molgen.chem.fragments import (
    FragmentGraph,
    FragmentVocabulary,
    RingSystem,
    decode_fragment_mols,
    decode_fragments,
    encode_fragments,
    fragment_graph_mol,
    fragment_graphs,
    mine_ring_systems,
    ring_systems_of,
)
from molgen.errors import InputError

needs_molsets = pytest.mark.skipif(
    importlib.util.find_spec("moses") is None, reason="molsets wheel not installed"
)

HARD_CASES = {
    "ortho": "Cc1ccccc1Cl",
    "meta": "Cc1cccc(Cl)c1",
    "para": "Cc1ccc(Cl)cc1",
    "naphthalene, 2 substituents": "Cc1ccc2cc(Cl)ccc2c1",
    "naphthalene, same ring": "Cc1cccc2ccccc12",
    "spiro": "CC1CCC2(CC1)CCNC2",
    "dispiro": "C1CC12CC21CC1",
    "N-alkyl pyridinium": "C[n+]1ccccc1",
    "pyridine N-oxide": "[O-][n+]1ccccc1C",
    "pyrrole NH": "Cc1cc[nH]c1",
    "N-methylpyrrole": "Cn1cccc1",
    "indole NH": "Oc1ccc2[nH]ccc2c1",
    "pyridone": "O=c1cccc[nH]1",
    "C=O on a ring": "NC1CCCCC1=O",
    "imide": "CN1C(=O)CCC1=O",
    "sulfone in ring": "CC1CCS(=O)(=O)C1",
    "thione": "S=C1NCCN1C",
    "oxime on ring": "ON=C1CCCCC1",
    "exocyclic C=C": "C=C1CCC(C)CC1",
    "double bond between two ring systems": "C1=CC(=C2CCCC2)C=C1",
    "allene between two ring systems": "C1CCC(=C=C2CCCC2)CC1",
    "biphenyl": "c1ccc(-c2ccccc2)cc1",
    "phenylpyridine": "Cc1ccc(-c2ccncc2)cc1",
    "macrocycle": "CC1CCCCCCCCCCCCC1",
    "bridged": "CC12CC3CC(CC(C3)C1)C2",
    "norbornene": "C1=CC2CCC1C2",
    "charged ring N": "C[N+]1(C)CCCC1",
    "carboxylate": "CC(=O)[O-]",
    "no ring": "CCOC(=O)C(C)N",
    "one atom": "C",
    "drug": "CC(=O)Nc1ccc(OCC(O)CN2CCN(c3ncccn3)CC2)cc1",
}
HARD = list(HARD_CASES.values())


def reference(smiles: str) -> str:
    """molgen's canonical SMILES computed straight from RDKit."""
    return canonical_smiles(Chem.MolFromSmiles(smiles))


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


@pytest.fixture(scope="module")
def hard_vocab() -> FragmentVocabulary:
    return FragmentVocabulary.from_smiles(HARD, coverage=1.0)


# --------------------------------------------------------------------------- mining


def test_fused_and_spiro_rings_are_one_unit_and_exocyclic_double_bonds_stay_inside():
    def units(smiles):
        return [u.smiles for u in ring_systems_of(parse_smiles(smiles))]

    assert units("Cc1ccc2cc(Cl)ccc2c1") == ["c1ccc2ccccc2c1"]
    assert units("CC1CCC2(CC1)CCNC2") == [reference("C1CCC2(CC1)CCNC2")]
    assert units("c1ccc(-c2ccccc2)cc1") == ["c1ccccc1", "c1ccccc1"]
    assert units("NC1CCCCC1=O") == ["O=C1CCCCC1"]
    assert units("ON=C1CCCCC1") == ["N=C1CCCCC1"]
    assert units("CC1CCS(=O)(=O)C1") == ["O=S1(=O)CCCC1"]
    # an atom double-bonded to two ring systems belongs to neither
    assert units("C1CCC(=C=C2CCCC2)CC1") == ["C1CCCCC1", "C1CCCC1"]
    # substituents become hydrogens: the unit keeps its charge, aromaticity and H counts
    assert units("C[n+]1ccccc1") == units("[O-][n+]1ccccc1") == ["c1cc[nH+]cc1"]
    assert units("Cn1cccc1") == units("c1cc[nH]c1") == ["c1cc[nH]c1"]
    assert units("O=c1cccc[nH]1") == ["O=c1cccc[nH]1"]
    assert units("CCOC(=O)C") == []


def test_unit_atoms_follow_the_template_order():
    mol = parse_smiles("Clc1ccc2[nH]ccc2c1")
    (unit,) = ring_systems_of(mol)
    template = Chem.MolFromSmiles(unit.smiles)
    assert sorted(unit.atoms) == list(range(1, mol.GetNumAtoms()))
    for t, a in enumerate(unit.atoms):
        atom, twin = mol.GetAtomWithIdx(a), template.GetAtomWithIdx(t)
        assert (atom.GetSymbol(), atom.GetIsAromatic()) == (twin.GetSymbol(), twin.GetIsAromatic())
    for bond in template.GetBonds():
        i, j = unit.atoms[bond.GetBeginAtomIdx()], unit.atoms[bond.GetEndAtomIdx()]
        assert mol.GetBondBetweenAtoms(i, j).GetBondType() == bond.GetBondType()


def test_mined_counts_and_k_for_coverage_against_a_direct_count():
    smiles = HARD + ["c1ccccc1", "Cc1ccccc1", "c1ccncc1", "C1CCCCC1", "OC1CCCCC1"]
    mined = mine_ring_systems(smiles)
    per_molecule = [{u.smiles for u in ring_systems_of(parse_smiles(s))} for s in smiles]
    holding = {name: sum(name in units for units in per_molecule) for name, _, _ in mined.ranked}
    assert [h for _, h, _ in mined.ranked] == sorted(holding.values(), reverse=True)
    assert mined.ranked[0][0] == "c1ccccc1"
    assert [n for _, n, _ in mined.ranked] and all(
        n == holding[name] for name, n, _ in mined.ranked
    )
    for share in (0.3, 0.5, 0.8, 1.0):
        k = mined.k_for_coverage(share)
        covered = [np.mean([u <= set(mined.top(kk)) for u in per_molecule]) for kk in (k - 1, k)]
        assert covered[1] >= share and (k == 0 or covered[0] < share)
    with pytest.raises(ValueError, match="coverage"):
        mined.k_for_coverage(0.0)
    bad = mine_ring_systems(["CCO", "C1CC"])
    assert len(bad.molecules) == 1 and "C1CC" in bad.failed[0]


# --------------------------------------------------------------------------- ring systems


def methylated(system: RingSystem, site: int) -> str:
    """The unit with a methyl on one site, built independently of the codec."""
    mol = Chem.RWMol(Chem.MolFromSmiles(system.smiles))
    atom = system.sites[site]
    carbon = mol.AddAtom(Chem.Atom(6))
    mol.AddBond(atom, carbon, Chem.BondType.SINGLE)
    target = mol.GetAtomWithIdx(atom)
    if target.GetNumExplicitHs():
        target.SetNumExplicitHs(target.GetNumExplicitHs() - 1)
    Chem.SanitizeMol(mol)
    return canonical_smiles(mol)


@pytest.mark.parametrize(
    "smiles, sites, classes",
    [
        ("c1ccccc1", 6, 1),
        ("c1ccncc1", 5, 3),
        ("c1ccc2ccccc2c1", 8, 2),
        ("C1CCCCC1", 6, 1),
        ("c1cc[nH]c1", 5, 3),
        ("O=C1CCCCC1", 5, 3),
        ("c1ccc2[nH]ccc2c1", 7, 7),
    ],
)
def test_sites_are_atoms_with_hydrogens_and_classes_are_their_symmetry(smiles, sites, classes):
    system = RingSystem(smiles)
    template = Chem.MolFromSmiles(smiles)
    assert system.num_sites == sites
    assert system.budgets == tuple(template.GetAtomWithIdx(t).GetTotalNumHs() for t in system.sites)
    assert system.num_site_classes == classes
    # independent check: two sites are one class iff methylating either gives one molecule
    products = [methylated(system, s) for s in range(system.num_sites)]
    for a, b in itertools.combinations(range(system.num_sites), 2):
        same_class = system.site_classes[a] == system.site_classes[b]
        assert same_class == (products[a] == products[b])
    # every symmetry maps sites to sites of the same class
    for perm in system.site_permutations:
        assert all(system.site_classes[perm[s]] == system.site_classes[s] for s in perm)


def test_ring_system_rejects_non_rings():
    with pytest.raises(ValueError, match="with a ring"):
        RingSystem("CCO")
    with pytest.raises(ValueError, match="with a ring"):
        RingSystem("C1CC")
    with pytest.raises(ValueError, match="write 'c1ccncc1'"):
        RingSystem("n1ccccc1")


# --------------------------------------------------------------------------- codec


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


def test_site_budgets_mask_the_sites_of_each_node_class(hard_vocab):
    budgets = hard_vocab.site_budgets()
    assert budgets.shape == (hard_vocab.num_node_types, hard_vocab.max_sites)
    assert (budgets[: len(hard_vocab.atom_types) + 1] == 0).all()
    for name in hard_vocab.ring_systems:
        system = RingSystem(name)
        row = budgets[hard_vocab.node_class(name)]
        assert row[: system.num_sites].tolist() == list(system.budgets)
        assert (row[system.num_sites :] == 0).all() and (row[: system.num_sites] > 0).all()


def test_vocabulary_saves_as_json_and_pickles(hard_vocab):
    data = json.loads(json.dumps(hard_vocab.to_dict()))
    assert FragmentVocabulary.from_dict(data) == hard_vocab
    assert pickle.loads(pickle.dumps(hard_vocab)) == hard_vocab
    with pytest.raises(InputError, match="exactly the keys"):
        FragmentVocabulary.from_dict({"atom_types": ["C"]})
    with pytest.raises(InputError, match="with a ring"):
        FragmentVocabulary.from_dict({**data, "ring_systems": ["CC"]})
    with pytest.raises(ValueError, match="duplicates"):
        FragmentVocabulary(("C",), ("c1ccccc1", "c1ccccc1"), ("SINGLE",), 4)


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
