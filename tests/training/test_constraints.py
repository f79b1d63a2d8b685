"""The constraint report: the unconstrained sampler, the pairing by noise, and its figures."""

import pytest
import torch

from molgen.chem import Vocabulary
from molgen.config import GeneratorConfig
from molgen.models import Generator
from molgen.training.constraints import (
    UnconstrainedSampler,
    constraint_report,
    unconstrained_smiles,
)
from molgen.training.run import build_generator
from molgen.training.sampling import generate_smiles


def carbon_chain_generator(constraint: str, connect: str = "join") -> tuple[Generator, Vocabulary]:
    """Logits favouring carbon atoms and about two single bonds per atom: the unconstrained
    draws are often valid, and often over-valent or in pieces."""
    vocab = Vocabulary(("C", "N", "O"), max_atoms=9)
    torch.manual_seed(0)
    cfg = GeneratorConfig(hidden=[32, 64], constraint=constraint, connect=connect)
    generator = build_generator(cfg, vocab)
    with torch.no_grad():
        generator.atom_head.bias.view(9, 4).copy_(torch.tensor([-2.0, 3.0, 0.0, 0.0]))
        generator.bond_head.bias.view(-1, 4).copy_(torch.tensor([1.2, 0.0, -3.0, -5.0]))
    return generator, vocab


def drawn(generator, vocab, n, seed, **kwargs):
    return [s for batch in generate_smiles(generator, vocab, n, seed=seed, **kwargs) for s in batch]


def test_constraint_report_on_an_unconstrained_generator_is_its_validity():
    generator, vocab = carbon_chain_generator("none")
    smiles = drawn(generator, vocab, 600, 4)
    validity = sum(s is not None and "." not in s for s in smiles) / 600
    report = constraint_report(generator, vocab, smiles, seed=4)
    assert 0.05 < validity < 0.95
    assert report == {"validity_unconstrained_logits": validity, "constraint_free_share": validity}


@pytest.mark.parametrize(
    ("constraint", "connect"),
    [("valence", "join"), ("valence_connected", "join"), ("valence_connected", "tree")],
)
def test_constraint_report_counts_samples_no_rule_changed(constraint, connect):
    """A valence mask or a joining bond changes only an unconstrained draw that was invalid (bar
    RDKit turning a neutral N with four bonds, one to O, into an N-oxide, which these logits do
    not draw), so for them the share of untouched valid samples equals the unconstrained
    validity; the tree rule also changes valid draws (a forced bond), so its share is
    smaller."""
    generator, vocab = carbon_chain_generator(constraint, connect)
    smiles = drawn(generator, vocab, 600, 4)
    report = constraint_report(generator, vocab, smiles, seed=4)
    validity = sum(s is not None and "." not in s for s in smiles) / 600
    free = report["validity_unconstrained_logits"]
    assert 0.05 < free < 0.95
    # The unconstrained draws of the constrained generator follow the same law as the
    # unconstrained generator's (binomial, 600 draws each): within 5 standard errors.
    baseline, _ = carbon_chain_generator("none")
    none_smiles = drawn(baseline, vocab, 600, 5)
    none_validity = sum(s is not None and "." not in s for s in none_smiles) / 600
    assert abs(free - none_validity) < 5 * (2 * free * (1 - free) / 600) ** 0.5
    if connect == "tree":
        assert report["constraint_free_share"] < free
    else:
        assert report["constraint_free_share"] == free
    assert validity > free


def test_unconstrained_sampler_of_an_unconstrained_generator_samples_the_same():
    generator, vocab = carbon_chain_generator("none")
    noise = generator.sample_noise(64)
    x, adj = generator(noise, generator=torch.Generator().manual_seed(1))
    free_x, free_adj = UnconstrainedSampler(generator)(
        noise, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(x, free_x) and torch.equal(adj, free_adj)
    assert list(UnconstrainedSampler(generator).parameters()) == list(generator.parameters())


def test_unconstrained_draws_exceed_the_valences_the_constrained_ones_keep():
    generator, vocab = carbon_chain_generator("valence")
    noise = generator.sample_noise(256)
    free_x, free_adj = UnconstrainedSampler(generator)(
        noise, generator=torch.Generator().manual_seed(2)
    )
    x, adj = generator(noise, generator=torch.Generator().manual_seed(2))
    assert torch.equal(x, free_x)  # the valence rule changes no atom
    orders = generator.bond_orders.float()

    def spent(a):
        return (a @ orders).sum(-1)

    budget = generator.atom_valences.float()[x.argmax(-1)]
    assert torch.all(spent(adj) <= budget)
    assert int((spent(free_adj) > budget).any(-1).sum()) > 20


def test_the_report_draws_only_the_unconstrained_half():
    """The constrained samples are taken as given: the report draws n graphs, not 2n, and
    changing the given samples changes only the share that needs them."""
    generator, vocab = carbon_chain_generator("valence")
    smiles = drawn(generator, vocab, 300, 7, batch_size=128)
    rows = []
    handle = generator.mlp.register_forward_hook(lambda m, i, out: rows.append(out.shape[0]))
    report = constraint_report(generator, vocab, smiles, seed=7, batch_size=128)
    handle.remove()
    assert sum(rows) == 300
    shuffled = constraint_report(generator, vocab, smiles[::-1], seed=7, batch_size=128)
    assert shuffled["validity_unconstrained_logits"] == report["validity_unconstrained_logits"]
    assert shuffled["constraint_free_share"] < report["constraint_free_share"]


def test_the_report_is_the_same_on_several_processes():
    generator, vocab = carbon_chain_generator("valence_connected", "tree")
    smiles = drawn(generator, vocab, 300, 8, batch_size=64)
    one = constraint_report(generator, vocab, smiles, seed=8, batch_size=64)
    two = constraint_report(generator, vocab, smiles, seed=8, batch_size=64, jobs=2)
    assert one == two
    serial = [
        s for b in unconstrained_smiles(generator, vocab, 300, seed=8, batch_size=64) for s in b
    ]
    assert len(serial) == 300 and 0 < sum(s is not None for s in serial) < 300
