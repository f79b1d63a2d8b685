"""Fragment datasets: vocabulary from the training split, covered training graphs, the cache."""

import logging

import pytest
import torch

from molgen.chem import decode_fragments, mine_ring_systems
from molgen.config import ConfigError, load_config
from molgen.data import FragmentSplit, load_dataset, load_molecule_dataset
from molgen.data.fragments import fragment_batch, fragment_report

CONFIG = "configs/debug_fragments.yaml"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    cfg = load_config(CONFIG, [f"data.cache_dir={cache}"])
    return cfg, load_molecule_dataset(cfg.data)


def test_the_vocabulary_is_mined_from_the_training_split_only(loaded):
    cfg, dataset = loaded
    atoms = load_dataset(cfg.data)
    mined = mine_ring_systems(atoms.train.smiles)
    assert dataset.vocab.ring_systems == mined.top(cfg.data.fragments.max_ring_systems)
    assert dataset.vocab.atom_types == atoms.vocab.atom_types
    assert dataset.info["fragments"]["ring_systems"] == 20


def test_training_graphs_are_the_covered_molecules_and_decode_to_their_smiles(loaded):
    cfg, dataset = loaded
    train = dataset.train
    assert isinstance(train, FragmentSplit)
    atoms = load_dataset(cfg.data)
    covered = mine_ring_systems(atoms.train.smiles).covered(dataset.vocab.ring_systems)
    expected = [s for s, keep in zip(atoms.train.smiles, covered, strict=True) if keep]
    assert train.smiles == expected
    decoded = decode_fragments(train.x.long(), train.adj.long(), train.sites.long(), dataset.vocab)
    assert decoded == train.smiles
    # a tree: one edge fewer than nodes
    nodes = (train.x != 0).sum(1)
    edges = (train.adj != 0).sum((1, 2)) // 2
    assert (edges == nodes - 1).all()


def test_test_and_validation_keep_their_rare_ring_systems_as_atoms(loaded):
    cfg, dataset = loaded
    atoms = load_dataset(cfg.data)
    stats = dataset.info["fragments"]
    assert dataset.test.smiles == atoms.test.smiles  # nothing over N in this sample
    assert stats["test"]["rare"] > 0 and stats["train"]["rare"] > 0
    assert stats["train"]["kept"] == stats["train"]["covered"] == len(dataset.train)
    decoded = decode_fragments(
        dataset.test.x.long(), dataset.test.adj.long(), dataset.test.sites.long(), dataset.vocab
    )
    assert decoded == dataset.test.smiles
    report = fragment_report(stats)
    share = stats["train"]["rare"] / stats["train"]["molecules"]
    assert f"{share:.1%} with a rare ring system (dropped)" in report
    assert "K=20 of" in report


def test_a_second_load_reads_the_cache_and_warns_of_what_training_leaves_out(loaded, caplog):
    cfg, dataset = loaded
    with caplog.at_level(logging.WARNING, logger="molgen.data.fragments"):
        again = load_molecule_dataset(cfg.data)
    assert "with a rare ring system (dropped)" in caplog.text
    assert again.info["fragments_cache"] == "hit"
    assert dataset.info["fragments_cache"] == "built"
    assert again.train.smiles == dataset.train.smiles
    assert (again.train.sites == dataset.train.sites).all()


def test_max_nodes_drops_larger_molecules(tmp_path):
    cfg = load_config(CONFIG, [f"data.cache_dir={tmp_path}", "data.max_nodes=4"])
    dataset = load_molecule_dataset(cfg.data)
    assert dataset.train.x.shape[1] == 4
    assert ((dataset.train.x != 0).sum(1) <= 4).all()
    assert dataset.info["fragments"]["train"]["too_large"] > 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["generator.connect=join"], "generator.connect='tree' \\(got 'join'\\)"),
        (["generator.bond_head=linear"], "generator.bond_head='pairwise'"),
        (["gan.rl_weight=0.5"], "gan.rl_weight=0.0"),
        (["data.representation=atoms"], "data.max_nodes is for data.representation=fragments"),
        (["data.fragments.coverage=0.9"], "max_ring_systems or data.fragments.coverage"),
        (
            ["data.representation=atoms", "data.max_nodes=null"],
            "discriminator.node_embedding_dim is for data.representation=fragments",
        ),
    ],
)
def test_a_fragment_config_names_what_it_needs(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIG, ["data.max_nodes=9", *overrides])


def test_a_training_batch_is_one_hot_with_a_site_at_each_end_of_each_edge(loaded):
    _, dataset = loaded
    idx = torch.arange(16)
    x, adj, sites = fragment_batch(dataset.train, idx, dataset.vocab, torch.device("cpu"))
    assert torch.equal(x.argmax(-1), dataset.train.x[idx].long())
    assert torch.equal(adj.argmax(-1), dataset.train.adj[idx].long())
    edge = dataset.train.adj[idx] != 0
    assert torch.equal(sites.sum(-1), edge.float())
    assert torch.equal(sites.argmax(-1) * edge, dataset.train.sites[idx].long())


def test_more_than_255_node_classes_are_stored(tmp_path):
    overrides = [f"data.cache_dir={tmp_path}", "data.fragments.max_ring_systems=400"]
    dataset = load_molecule_dataset(load_config(CONFIG, overrides).data)
    train = dataset.train
    assert dataset.vocab.num_node_types > 256
    assert int(train.x.max()) > 255
    decoded = decode_fragments(train.x.long(), train.adj.long(), train.sites.long(), dataset.vocab)
    assert decoded == train.smiles


# Benzene is the one ring system kept (K=1); the cyclopropane molecules stay within N written as
# atoms, the cyclooctane ones do not. The largest covered graph is benzene with a propyl: 4 nodes.
SMALL = (
    ["c1ccccc1C"] * 20 + ["c1ccccc1CCC"] * 10 + ["CC"] * 4 + ["C1CC1C"] * 6 + ["C1CCCCCCC1C"] * 6
)


def _small_dataset(tmp_path, *overrides):
    path = tmp_path / "small.smi"
    path.write_text("\n".join(SMALL) + "\n")
    cfg = load_config(
        CONFIG,
        [
            f"data.cache_dir={tmp_path}",
            "data.name=null",
            f"data.path={path}",
            "data.max_atoms=12",
            "data.val_fraction=0.1",
            "data.test_fraction=0.1",
            "data.fragments.max_ring_systems=1",
            *overrides,
        ],
    )
    return cfg, load_molecule_dataset(cfg.data)


def test_the_report_states_how_n_was_chosen_and_shares_that_add_up(tmp_path):
    cfg, dataset = _small_dataset(tmp_path)
    stats = dataset.info["fragments"]
    atoms = load_dataset(cfg.data)
    mined = mine_ring_systems(atoms.train.smiles)
    covered = mined.covered(dataset.vocab.ring_systems)
    nodes = mined.node_counts(dataset.vocab.ring_systems)  # rare ring systems as atoms
    assert stats["max_nodes"] == nodes[covered].max() == 4
    # Over N in training: only molecules with a rare ring system, since N is the largest covered.
    train = stats["train"]
    assert train["too_large"] == int(((nodes > 4) & ~covered).sum()) > 0
    assert train["rare"] == int(((nodes <= 4) & ~covered).sum()) > 0
    report = fragment_report(stats)
    assert "N=4 nodes (the largest covered training graph; atoms: 12)" in report
    for name in ("train", "val", "test"):
        split = stats[name]
        assert split["covered"] + split["rare"] + split["too_large"] == split["molecules"]
        shares = [split[key] / split["molecules"] for key in ("covered", "rare", "too_large")]
        assert (
            f"{name}: {split['molecules']} molecules = {shares[0]:.1%} covered + {shares[1]:.1%} "
            f"with a rare ring system" in report
        )
        assert f"+ {shares[2]:.1%} over N=4 nodes, rare ring systems as atoms (dropped)" in report


def test_the_report_names_data_max_nodes_when_it_sets_n(tmp_path):
    cfg, dataset = _small_dataset(tmp_path, "data.max_nodes=3")
    stats = dataset.info["fragments"]
    mined = mine_ring_systems(load_dataset(cfg.data).train.smiles)
    covered = mined.covered(dataset.vocab.ring_systems)
    nodes = mined.node_counts(dataset.vocab.ring_systems)
    # benzene with a propyl (4 nodes) is covered but over N=3: counted over N, not covered
    assert (nodes[covered] > 3).any()
    assert stats["train"]["covered"] == int(((nodes <= 3) & covered).sum())
    assert stats["train"]["too_large"] == int((nodes > 3).sum())
    assert "N=3 nodes (data.max_nodes; atoms: 12)" in fragment_report(stats)
