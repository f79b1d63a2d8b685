"""The fragment-graph generator and critic: every sample one molecule, gradients to the sites."""

import itertools

import pytest
import torch

from molgen.chem import FragmentVocabulary, decode_fragment_mols
from molgen.chem.fragments import node_site_budgets
from molgen.config import load_config
from molgen.data import bundled_path
from molgen.models.fragments import FragmentDiscriminator, FragmentGenerator, site_usage
from molgen.training.run import build_generator
from molgen.training.sampling import generate_smiles

CONFIG = "configs/debug_fragments.yaml"


@pytest.fixture(scope="module")
def vocab():
    """A small vocabulary: the 12 most frequent ring systems of 300 QM9 molecules, 9 nodes."""
    smiles = [line.split()[0] for line in bundled_path("qm9_5k").read_text().splitlines()[:300]]
    return FragmentVocabulary.from_smiles(smiles, num_ring_systems=12, max_nodes=9)


def _generator(vocab, *overrides):
    return build_generator(load_config(CONFIG, list(overrides)).generator, vocab)


@pytest.mark.parametrize(("seed", "temperature"), [(0, None), (1, (3.0, 3.0)), (2, (0.3, 0.3))])
def test_every_sample_of_an_untrained_generator_is_one_sanitizable_molecule(
    vocab, seed, temperature
):
    torch.manual_seed(seed)
    generator = _generator(vocab)
    n = 600
    smiles = list(
        itertools.chain.from_iterable(
            generate_smiles(
                generator, vocab, n, seed=seed, sample_temperature=temperature, strict=True
            )
        )
    )
    assert len(smiles) == n
    assert all(s is not None and "." not in s for s in smiles)
    # the samples use ring systems and more than one node: the test is not trivially passed
    assert sum("1" in s for s in smiles) > n // 4
    assert len(set(smiles)) > n // 2


def test_samples_keep_every_site_budget_and_form_one_tree(vocab):
    torch.manual_seed(0)
    generator = _generator(vocab).eval()
    with torch.no_grad():
        x, adj, sites = generator(generator.sample_noise(256))
    nodes, bonds, site = x.argmax(-1), adj.argmax(-1), sites.argmax(-1)
    table = node_site_budgets(vocab)
    orders = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)[: vocab.num_bond_types]
    for b in range(len(nodes)):
        present = (nodes[b] != 0).nonzero().flatten().tolist()
        edges = [(i, j) for i in range(9) for j in range(i + 1, 9) if bonds[b, i, j] > 0]
        assert len(edges) == max(len(present) - 1, 0)  # connected, no cycle
        used = torch.zeros(9, table.shape[1], dtype=torch.float64)
        for i, j in edges:
            assert i in present and j in present
            used[i, site[b, i, j]] += orders[bonds[b, i, j]]
            used[j, site[b, j, i]] += orders[bonds[b, i, j]]
        assert (used <= table[nodes[b]]).all()
    checked = decode_fragment_mols(x, adj, sites, vocab)
    assert all(c.valid for c in checked)


def test_argmax_mode_is_deterministic_and_valid(vocab):
    generator = _generator(vocab, "generator.eval_mode=argmax").eval()
    z = generator.sample_noise(64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        first = generator(z, generator=torch.Generator().manual_seed(1))
        second = generator(z, generator=torch.Generator().manual_seed(2))
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    assert all(c.valid for c in decode_fragment_mols(*first, vocab))


@pytest.mark.parametrize("embedding", ["8", "null"])
def test_the_critic_gives_the_site_logits_a_gradient(vocab, embedding):
    torch.manual_seed(0)
    cfg = load_config(CONFIG, [f"discriminator.node_embedding_dim={embedding}"])
    generator = _generator(vocab)
    critic = FragmentDiscriminator(
        cfg.discriminator, vocab.num_node_types, vocab.num_bond_types, vocab.max_sites
    )
    graph = generator(generator.sample_noise(16), 1.0)
    critic(*graph).sum().backward()
    assert generator.site_head.weight.grad.abs().sum() > 0
    assert generator.bond_head.readout[0].weight.grad.abs().sum() > 0
    assert generator.atom_head.weight.grad.abs().sum() > 0


def test_site_usage_counts_each_sites_edges():
    torch.manual_seed(0)
    batch, n, r, s = 3, 5, 4, 3
    bonds = torch.randint(0, r, (batch, n, n))
    bonds = torch.triu(bonds, 1) + torch.triu(bonds, 1).transpose(1, 2)
    site = torch.randint(0, s, (batch, n, n))
    expected = torch.zeros(batch, n, s)
    for b, i, j in itertools.product(range(batch), range(n), range(n)):
        if bonds[b, i, j] > 0:
            expected[b, i, site[b, i, j]] += 1
    adj = torch.nn.functional.one_hot(bonds, r).float()
    sites = torch.nn.functional.one_hot(site, s).float()
    assert torch.equal(site_usage(adj, sites), expected)


def test_a_fragment_generator_refuses_another_sampler(vocab):
    cfg = load_config("configs/debug.yaml").generator
    with pytest.raises(ValueError, match="bond_head='pairwise'"):
        FragmentGenerator(cfg, 9, node_site_budgets(vocab), [0.0, 1.0, 2.0, 3.0])
