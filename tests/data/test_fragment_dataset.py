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
