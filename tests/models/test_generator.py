"""Generator: shapes, exact symmetry, padding, gradients, seeding, and sampling frequencies."""

import networkx as nx
import pytest
import torch
from scipy.stats import chisquare

from molgen.chem import Vocabulary, atom_valences, bond_orders, decode, decode_mols
from molgen.config import GeneratorConfig
from molgen.models import Generator
from molgen.training.run import build_generator

N, A, R = 9, 5, 5


def make(**overrides) -> Generator:
    return Generator(GeneratorConfig(hidden=[32, 64], **overrides), N, A, R)


def test_logits_shapes():
    generator = make()
    atom_logits, bond_logits = generator.logits(generator.sample_noise(7))
    assert atom_logits.shape == (7, N, A)
    assert bond_logits.shape == (7, N * (N - 1) // 2, R)  # one row per pair i < j


@pytest.mark.parametrize("estimator", ["st", "gumbel_rao", "reinmax"])
def test_hard_samples_are_symmetric_one_hot_graphs_without_padding_bonds(estimator):
    generator = make(estimator=estimator)
    x, adj = generator(generator.sample_noise(64), tau=1.0)
    assert x.shape == (64, N, A) and adj.shape == (64, N, N, R)
    for sample in (x, adj):
        assert set(sample.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(sample.sum(-1), torch.ones_like(sample[..., 0]))
    assert torch.equal(adj, adj.transpose(1, 2))
    assert torch.all(adj.diagonal(dim1=1, dim2=2)[:, 0] == 1)  # diagonal is "no bond"
    padding = x.argmax(-1) == 0
    assert padding.any() and (~padding).any()
    bond_type = adj.argmax(-1)
    assert torch.all(bond_type[padding] == 0)  # rows of padding nodes
    assert torch.all(bond_type.transpose(1, 2)[padding] == 0)  # columns
    # Bonds between atoms are sampled at all.
    assert (bond_type > 0).any()


def test_forward_can_return_the_logits_it_sampled_from():
    generator = make()
    z = generator.sample_noise(4)
    seed = torch.Generator().manual_seed(9)
    (x, adj), atom_logits, bond_logits = generator(z, 1.0, generator=seed, return_logits=True)
    expected_logits = generator.logits(z)
    torch.testing.assert_close((atom_logits, bond_logits), expected_logits)
    expected = generator.sample_from_logits(
        *expected_logits, 1.0, generator=torch.Generator().manual_seed(9)
    )
    assert torch.equal(x, expected[0]) and torch.equal(adj, expected[1])


def test_soft_samples_are_symmetric_distributions():
    generator = make(hard=False)
    x, adj = generator(generator.sample_noise(16), tau=0.5)
    torch.testing.assert_close(x.sum(-1), torch.ones(16, N))
    torch.testing.assert_close(adj.sum(-1), torch.ones(16, N, N))
    assert torch.equal(adj, adj.transpose(1, 2))
    assert ((x > 0) & (x < 1)).any()


@pytest.mark.parametrize("bond_head", ["linear", "pairwise"])
def test_every_parameter_gets_a_gradient_through_the_samples(bond_head):
    generator = make(bond_head=bond_head, bond_embedding_dim=8)
    x, adj = generator(generator.sample_noise(32), tau=1.0)
    weights = torch.Generator().manual_seed(0)
    loss = (x * torch.randn(x.shape, generator=weights)).sum()
    loss = loss + (adj * torch.randn(adj.shape, generator=weights)).sum()
    loss.backward()
    for name, parameter in generator.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_seeded_sampling_is_reproducible_and_eval_mode_still_samples():
    generator = make()
    z = generator.sample_noise(8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(z, generator.sample_noise(8, generator=torch.Generator().manual_seed(3)))
    first = generator(z, 1.0, generator=torch.Generator().manual_seed(5))
    second = generator(z, 1.0, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    generator.eval()
    third = generator(z, 1.0, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(first[1], third[1])


def expected(logits, draws):
    p = logits.double().softmax(-1).numpy()
    return p / p.sum() * draws


def assert_bonds_are_the_modes_among_atoms(x, adj, bond_logits):
    """Bonds between sampled atoms are the modes of their pair logits, others "no bond"."""
    atoms = x.argmax(-1) != 0
    pairs = atoms[:, :, None] & atoms[:, None, :] & ~torch.eye(N, dtype=torch.bool)
    rows, cols = torch.triu_indices(N, N, offset=1)
    dense = torch.zeros(len(x), N, N, R)
    dense[:, rows, cols] = dense[:, cols, rows] = bond_logits
    assert torch.equal(adj.argmax(-1)[pairs], dense.argmax(-1)[pairs])
    assert torch.all(adj.argmax(-1)[~pairs] == 0)


def test_argmax_eval_mode_gives_the_modes():
    generator = Generator(GeneratorConfig(hidden=[32], eval_mode="argmax"), N, A, R).eval()
    z = generator.sample_noise(16)
    x, adj = generator(z, 1.0)
    assert torch.equal(adj, generator(z, 1.0)[1])  # deterministic
    atom_logits, bond_logits = generator.logits(z)
    assert torch.equal(x.argmax(-1), atom_logits.argmax(-1))
    assert_bonds_are_the_modes_among_atoms(x, adj, bond_logits)


def repeated_draws(generator, draws, seeds):
    """The logits of one z (seed ``seeds[0]``) and ``draws`` samples from it (seed
    ``seeds[1]``), the weights first scaled down so that every class occurs."""
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.mul_(0.2)
        noise = torch.Generator().manual_seed(seeds[0])
        z = generator.sample_noise(1, generator=noise).expand(draws, -1)
        logits = generator.logits(z[:1])
        return logits, generator(z, 1.0, generator=torch.Generator().manual_seed(seeds[1]))


def test_sample_frequencies_follow_the_logits():
    """Repeat one z: node 0's atom types follow softmax(atom logits); the bond between nodes
    0 and 1, given both are atoms, follows softmax(bond logits) (chi-square, fixed seeds)."""
    draws = 20000
    (atom_logits, bond_logits), (x, adj) = repeated_draws(make(), draws, seeds=(1, 2))
    atoms = x[:, 0].argmax(-1)
    assert (
        chisquare(torch.bincount(atoms, minlength=A), expected(atom_logits[0, 0], draws)).pvalue
        > 1e-3
    )
    both = (x[:, 0].argmax(-1) != 0) & (x[:, 1].argmax(-1) != 0)
    bonds = adj[both, 0, 1].argmax(-1)
    observed = torch.bincount(bonds, minlength=R)
    # Pair 0 in triu_indices order is (0, 1).
    assert chisquare(observed, expected(bond_logits[0, 0], len(bonds))).pvalue > 1e-3


def test_min_nodes_draws_the_first_slots_from_the_other_classes_renormalised():
    """With min_nodes=2, slots 0 and 1 follow softmax over classes 1..A-1 (chi-square), never
    class 0; slot 2 keeps its full law; "no atom"'s logit there gets no gradient."""
    generator = make(min_nodes=2)
    draws = 20000
    (atom_logits, _), (x, _) = repeated_draws(generator, draws, seeds=(3, 4))
    for slot in (0, 1):
        counts = torch.bincount(x[:, slot].argmax(-1), minlength=A)
        assert counts[0] == 0
        law = expected(atom_logits[0, slot, 1:], draws)
        assert chisquare(counts[1:], law).pvalue > 1e-3
    counts = torch.bincount(x[:, 2].argmax(-1), minlength=A)
    assert chisquare(counts, expected(atom_logits[0, 2], draws)).pvalue > 1e-3
    logits = torch.zeros(4, N, A, requires_grad=True)
    (generator.sample_atoms(logits) * torch.randn(4, N, A)).sum().backward()
    assert torch.all(logits.grad[:, :2, 0] == 0) and torch.any(logits.grad[:, 2:, 0] != 0)
    assert "min_nodes=2" in repr(generator)
    with pytest.raises(ValueError, match="min_nodes=10 is more than the 9 node slots"):
        make(min_nodes=10)


def test_bad_arguments_raise():
    generator = make()
    with pytest.raises(ValueError, match="z must have shape"):
        generator.logits(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="batch_size"):
        generator.sample_noise(0)
    with pytest.raises(ValueError, match="num_atom_types"):
        Generator(GeneratorConfig(), N, 1, R)
    with pytest.raises(ValueError, match="num_nodes"):
        Generator(GeneratorConfig(), 0, A, R)


def test_single_node_graphs_and_repr():
    generator = Generator(GeneratorConfig(hidden=[8]), 1, A, R)
    x, adj = generator(generator.sample_noise(3), 1.0)
    assert x.shape == (3, 1, A) and torch.all(adj[..., 0] == 1)
    assert "num_nodes=1, num_atom_types=5, num_bond_types=5" in repr(generator)


# ------------------------------------------------------------- constrained bond sampling

QM9_VOCAB = Vocabulary(("C", "C-", "N", "N+", "N-", "O", "O-", "F"), max_atoms=9)
MOSES_VOCAB = Vocabulary(("C", "N", "S", "O", "F", "Cl", "Br"), max_atoms=27)


def constrained(
    constraint: str,
    connect: str = "join",
    vocab: Vocabulary = QM9_VOCAB,
    bond_head: str = "linear",
):
    torch.manual_seed(0)
    cfg = GeneratorConfig(
        hidden=[32, 64], constraint=constraint, connect=connect, bond_head=bond_head
    )
    return build_generator(cfg, vocab)


@pytest.mark.parametrize("bond_head", ["linear", "pairwise"])
@pytest.mark.parametrize(
    ("constraint", "connect"),
    [("valence", "join"), ("valence_connected", "join"), ("valence_connected", "tree")],
)
def test_constrained_samples_obey_budgets_and_sanitize(constraint, connect, bond_head):
    generator = constrained(constraint, connect, bond_head=bond_head)
    x, adj = generator(generator.sample_noise(512), generator=torch.Generator().manual_seed(1))
    budget = torch.tensor(atom_valences(QM9_VOCAB))[x.argmax(-1)]  # [B, N]
    spent = (adj @ torch.tensor(bond_orders(QM9_VOCAB))).sum(-1)  # [B, N]
    assert torch.all(spent <= budget)
    assert torch.equal(adj, adj.transpose(1, 2))
    smiles = decode(x, adj, QM9_VOCAB, strict=False)
    assert all(s is not None for s in smiles)  # every sample is a molecule (maybe in pieces)


@pytest.mark.parametrize("bond_head", ["linear", "pairwise"])
def test_valence_connected_leaves_only_fragments_no_bond_can_join(bond_head):
    """Random weights draw saturated pieces (F-F, O=O) that no allowed bond joins; every other
    sample is one molecule, so the strict-validity failures are exactly those."""
    generator = constrained("valence_connected", bond_head=bond_head)
    x, adj = generator(generator.sample_noise(512), generator=torch.Generator().manual_seed(2))
    atoms, bonds = x.argmax(-1), adj.argmax(-1)
    spare = torch.tensor(atom_valences(QM9_VOCAB))[atoms] - (
        adj @ torch.tensor(bond_orders(QM9_VOCAB))
    ).sum(-1)
    strict = decode(x, adj, QM9_VOCAB, strict=True)
    for b, smiles in enumerate(strict):
        present = (atoms[b] != 0).nonzero().flatten().tolist()
        graph = nx.Graph()
        graph.add_nodes_from(present)
        graph.add_edges_from((i, j) for i in present for j in present if bonds[b, i, j] > 0)
        pieces = list(nx.connected_components(graph))
        assert (smiles is not None) == (len(pieces) <= 1)
        with_room = [p for p in pieces if any(spare[b, i] >= 1 for i in p)]
        assert len(with_room) <= 1, (b, pieces)


@pytest.mark.parametrize("bond_head", ["linear", "pairwise"])
@pytest.mark.parametrize("vocab", [QM9_VOCAB, MOSES_VOCAB], ids=["qm9", "moses"])
def test_tree_makes_every_sample_one_molecule(vocab, bond_head):
    """Random weights, so atoms of valence 1 are common: the tree rule drops the atoms no tree
    of earlier atoms can bond (and nothing else), and every sample is strict-valid."""
    generator = constrained("valence_connected", "tree", vocab, bond_head=bond_head)
    noise = generator.sample_noise(256)
    x, adj = generator(noise, generator=torch.Generator().manual_seed(5))
    assert all(s is not None for s in decode(x, adj, vocab, strict=True))
    # the same noise through the atom sampler alone: the atoms before the tree rule
    free = generator.atom_sampler(
        generator.atom_logits(generator.features(noise)),
        generator=torch.Generator().manual_seed(5),
    )
    atoms, free_atoms = x.argmax(-1), free.argmax(-1)
    changed = atoms != free_atoms
    assert changed.any() and torch.all(atoms[changed] == 0)  # only dropped, never changed
    # a dropped atom is "no atom" from there on: every later atom is dropped too
    first = changed.float().argmax(-1)
    later = torch.arange(vocab.max_atoms) >= first.unsqueeze(-1)
    assert torch.all(atoms[changed.any(-1).unsqueeze(-1) & later] == 0)


def largest_ring(x, adj):
    """Per sample, the longest cycle of a minimum cycle basis of its bond graph (RDKit's
    smallest set of smallest rings has the same sizes), 0 without a ring."""
    atoms, bonds = x.argmax(-1), adj.argmax(-1)
    out = []
    for b in range(len(atoms)):
        present = (atoms[b] != 0).nonzero().flatten().tolist()
        graph = nx.Graph((i, j) for i in present for j in present if i < j and bonds[b, i, j])
        out.append(max((len(c) for c in nx.minimum_cycle_basis(graph)), default=0))
    return torch.tensor(out)


def test_max_ring_bounds_every_ring_and_keeps_one_molecule():
    """MOSES' atoms at 27 nodes from random weights: rings of 8 or more atoms are common
    without the rule and absent with ``max_ring=7``; every sample is still one molecule."""
    noise = None
    rings = {}
    for max_ring in (None, 7):
        torch.manual_seed(0)
        cfg = GeneratorConfig(
            hidden=[32, 64], constraint="valence_connected", connect="tree", max_ring=max_ring
        )
        generator = build_generator(cfg, MOSES_VOCAB)
        noise = generator.sample_noise(256) if noise is None else noise
        x, adj = generator(noise, generator=torch.Generator().manual_seed(3))
        assert all(s is not None for s in decode(x, adj, MOSES_VOCAB, strict=True))
        rings[max_ring] = largest_ring(x, adj)
    assert int((rings[None] >= 8).sum()) > 12
    assert int(rings[7].max()) <= 7 and int((rings[7] >= 5).sum()) > 12


def test_tree_dropped_atoms_carry_no_gradient():
    generator = constrained("valence_connected", "tree", MOSES_VOCAB)
    logits = torch.randn(64, 27, len(MOSES_VOCAB.atom_types) + 1, requires_grad=True)
    x = generator.sample_atoms(logits, generator=torch.Generator().manual_seed(6))
    free = generator.atom_sampler(logits, generator=torch.Generator().manual_seed(6))
    dropped = (x.argmax(-1) == 0) & (free.argmax(-1) != 0)
    assert dropped.any()
    (x * torch.randn(x.shape)).sum().backward()
    assert torch.all(logits.grad[dropped] == 0) and torch.all(logits.grad[~dropped] != 0)


@pytest.mark.parametrize("constraint", ["valence", "valence_connected"])
def test_gradients_reach_every_parameter_through_the_constrained_sampler(constraint):
    generator = constrained(constraint)
    x, adj = generator(generator.sample_noise(32), generator=torch.Generator().manual_seed(3))
    weights = torch.Generator().manual_seed(0)
    loss = (x * torch.randn(x.shape, generator=weights)).sum()
    (loss + (adj * torch.randn(adj.shape, generator=weights)).sum()).backward()
    for name, parameter in generator.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


AROMATIC_MOSES_VOCAB = Vocabulary(
    ("C", "N", "S", "O", "F", "Cl", "Br", "NH"), ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"), 27
)


@pytest.mark.parametrize("max_ring", [None, 5])
def test_aromatic_rings_rule_makes_sanitizable_molecules_with_whole_aromatic_rings(max_ring):
    """Random weights at MOSES' size: every sample is one sanitizable molecule, RDKit perceives
    most drawn aromatic bonds as aromatic, and under max_ring=5 they come in 5-rings."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(
        hidden=[32, 64],
        constraint="valence_connected",
        connect="tree",
        max_ring=max_ring,
        aromatic_rule="rings",
    )
    generator = build_generator(cfg, AROMATIC_MOSES_VOCAB)
    aromatic = AROMATIC_MOSES_VOCAB.bond_class("AROMATIC")
    with torch.no_grad():  # mostly carbons, as in the data, and aromatic bonds likely
        generator.atom_head.bias.view(27, -1)[:, AROMATIC_MOSES_VOCAB.atom_class("C")] += 3.0
        generator.bond_head.bias.view(-1, 5)[:, aromatic] += 1.0
    x, adj = generator(generator.sample_noise(256), generator=torch.Generator().manual_seed(4))
    atoms, bonds = x.argmax(-1), adj.argmax(-1)
    checked = decode_mols(x, adj, AROMATIC_MOSES_VOCAB, strict=True)
    assert all(c.valid for c in checked)
    per_sample = (bonds == aromatic).sum((1, 2)) // 2
    assert per_sample.sum() > 256
    if max_ring == 5:
        assert torch.all(per_sample % 5 == 0)
    drawn = perceived = 0
    for b, outcome in enumerate(checked):
        index = (atoms[b] != 0).long().cumsum(0) - 1  # node -> atom of the molecule
        for i, j in (bonds[b] == aromatic).triu().nonzero().tolist():
            bond = outcome.mol.GetBondBetweenAtoms(int(index[i]), int(index[j]))
            drawn += 1
            perceived += bond.GetIsAromatic()
    # Random weights draw chords and bridges across rings, which can change RDKit's
    # aromaticity perception (the molecule still sanitizes); most drawn rings stay aromatic.
    assert perceived / drawn > 0.8


def test_aromatic_rule_needs_an_aromatic_vocabulary():
    cfg = GeneratorConfig(constraint="valence_connected", connect="tree", aromatic_rule="rings")
    with pytest.raises(ValueError, match="aromatic_roles"):
        build_generator(cfg, QM9_VOCAB)
