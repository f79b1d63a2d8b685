"""Discriminator and RewardNetwork: shapes, packing, padding, gradients into every channel."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F

from molgen.config import DiscriminatorConfig, GeneratorConfig
from molgen.gan import compile_critic_objective, critic_objective
from molgen.models import Discriminator, Generator, RewardNetwork

N, A, R = 6, 4, 5
CFG = DiscriminatorConfig(conv_dims=[16, 8], aggregate_dim=16, mlp_dims=[16, 8])


def random_graphs(batch, seed=0, atoms=4):
    """One-hot molecules-like graphs: `atoms` real nodes then padding, symmetric bonds, class-0
    diagonal and no bonds to padding (as encoded data)."""
    generator = torch.Generator().manual_seed(seed)
    types = torch.randint(1, A, (batch, N), generator=generator)
    types[:, atoms:] = 0
    bonds = torch.randint(R, (batch, N, N), generator=generator).triu(1)
    bonds = bonds + bonds.transpose(1, 2)
    real = types != 0
    bonds = bonds * (real[:, :, None] & real[:, None, :])
    return F.one_hot(types, A).float(), F.one_hot(bonds, R).float()


def test_scores_shapes_and_packing():
    x, adj = random_graphs(12)
    assert Discriminator(CFG, A, R)(x, adj).shape == (12,)
    assert Discriminator(CFG, A, R, pack=3)(x, adj).shape == (4,)
    assert Discriminator(CFG, A, R, pack=2, minibatch_std=True)(x, adj).shape == (6,)
    with pytest.raises(ValueError, match="not divisible by pack=5"):
        Discriminator(CFG, A, R, pack=5)(x, adj)
    with pytest.raises(ValueError, match="pack must be >= 1"):
        Discriminator(CFG, A, R, pack=0)
    reward = RewardNetwork(CFG, A, R)(x, adj)
    assert reward.shape == (12,) and torch.all((reward > 0) & (reward < 1))


def test_bad_shapes_raise():
    critic = Discriminator(CFG, A, R)
    x, adj = random_graphs(2)
    with pytest.raises(ValueError, match="x must have shape"):
        critic(x[..., :-1], adj)
    with pytest.raises(ValueError, match="adj must have shape"):
        critic(x, adj[..., :-1])


def test_gradient_reaches_every_entry_between_atoms_in_every_channel():
    """d score / d adj is non-zero for every pair of atoms and every bond channel, "no bond"
    (channel 0) included, and d score / d x for every atom and every type channel."""
    torch.manual_seed(0)
    critic = Discriminator(CFG, A, R)
    x, adj = random_graphs(4)
    x.requires_grad_(True)
    adj.requires_grad_(True)
    critic(x, adj).sum().backward()
    real = x.detach().argmax(-1) != 0
    pairs = real[:, :, None] & real[:, None, :]
    assert torch.all(adj.grad[pairs] != 0)  # [num atom pairs, R]: every channel
    assert torch.all(x.grad[real] != 0)  # [num atoms, A]
    # Padding nodes: being padding is itself differentiable (the mask is 1 - x[..., 0]).
    assert torch.all(x.grad[~real][:, 0] != 0)


def test_padding_nodes_do_not_contribute():
    """Features of padding nodes and their adjacency entries do not change any score."""
    torch.manual_seed(0)
    critic = Discriminator(CFG, A, R)
    x, adj = random_graphs(4)
    scores = critic(x, adj)
    padding = x.argmax(-1) == 0
    noisy_adj = adj.clone()
    noise = torch.rand(adj.shape).softmax(-1)
    pad_pairs = padding[:, :, None] | padding[:, None, :]
    noisy_adj[pad_pairs] = noise[pad_pairs]
    noisy_x = x.clone()
    noisy_x[padding, 1:] = torch.rand(int(padding.sum()), A - 1)  # x[..., 0] stays 1
    torch.testing.assert_close(critic(noisy_x, noisy_adj), scores)


def test_packed_scores_depend_only_on_their_own_group():
    torch.manual_seed(0)
    x, adj = random_graphs(6)
    other_x, other_adj = random_graphs(6, seed=1)
    changed_x, changed_adj = x.clone(), adj.clone()
    changed_x[5], changed_adj[5] = other_x[5], other_adj[5]  # in the last group of 2
    plain = Discriminator(CFG, A, R, pack=2)
    before, after = plain(x, adj), plain(changed_x, changed_adj)
    torch.testing.assert_close(before[:2], after[:2])
    assert before[2] != after[2]
    assert not plain.mixes_batch
    # With the minibatch standard deviation, every score sees the whole batch.
    with_std = Discriminator(CFG, A, R, pack=2, minibatch_std=True)
    before, after = with_std(x, adj), with_std(changed_x, changed_adj)
    assert torch.all(before != after) and with_std.mixes_batch


def test_minibatch_std_feature_value():
    """The appended feature is the mean over features of the batch standard deviation."""
    torch.manual_seed(0)
    critic = Discriminator(CFG, A, R, minibatch_std=True)
    x, adj = random_graphs(5)
    captured = {}
    critic.head.register_forward_pre_hook(lambda module, args: captured.update(h=args[0]))
    critic(x, adj)
    embeddings = critic.encoder(x, adj)
    expected = embeddings.std(0, correction=0).mean()
    torch.testing.assert_close(captured["h"][:, -1], expected.expand(5), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(captured["h"][:, :-1], embeddings)


def test_generator_samples_pass_gradients_through_the_critic_to_every_bond_channel():
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(hidden=[16]), N, A, R)
    critic = Discriminator(CFG, A, R)
    x, adj = generator(generator.sample_noise(16), 1.0)
    adj.retain_grad()
    critic(x, adj).sum().backward()
    real = x.argmax(-1) != 0
    pairs = real[:, :, None] & real[:, None, :] & ~torch.eye(N, dtype=torch.bool)
    assert pairs.any()
    assert torch.all(adj.grad[pairs] != 0)
    assert generator.bond_head.weight.grad.abs().sum() > 0


def test_dropout_is_active_only_in_training():
    cfg = CFG.model_copy(update={"dropout": 0.5})
    critic = Discriminator(cfg, A, R)
    x, adj = random_graphs(4)
    assert not torch.equal(critic(x, adj), critic(x, adj))
    critic.eval()
    assert torch.equal(critic(x, adj), critic(x, adj))


def test_reset_parameters_and_repr():
    critic = Discriminator(CFG, A, R, pack=2)
    before = [p.detach().clone() for p in critic.parameters()]
    torch.manual_seed(123)
    critic.reset_parameters()
    changed = [not torch.equal(b, p) for b, p in zip(before, critic.parameters(), strict=True)]
    weights = [p.dim() > 1 for p in critic.parameters()]
    assert all(c for c, w in zip(changed, weights, strict=True) if w)  # biases restart at zero
    assert "pack=2, minibatch_std=False" in repr(critic)
    assert "DenseRelationalConv(4, 16, num_relations=5" in repr(critic)
    assert "output=sigmoid" in repr(RewardNetwork(CFG, A, R))


ORDERS = [0.0, 1.0, 2.0, 3.0, 1.0]  # bond class 4: aromatic
STRUCTURE = CFG.model_copy(update={"structure_features": True})


def test_structure_features_are_off_by_default_and_leave_the_state_dict_unchanged():
    """Off (the default), the critic is what it was: no feature module, the same parameters and
    state dict whether or not bond orders are given, so older checkpoints load."""
    assert not DiscriminatorConfig().structure_features
    plain = Discriminator(CFG, A, R, pack=2)
    given = Discriminator(CFG, A, R, pack=2, bond_orders=ORDERS, aromatic_bond=4)
    assert plain.encoder.structure is None and given.encoder.structure is None
    given.load_state_dict(plain.state_dict())  # strict: same keys and shapes
    x, adj = random_graphs(4)
    torch.testing.assert_close(given(x, adj), plain(x, adj))
    # On, only the head's input width changes (the feature module has no state).
    critic = Discriminator(STRUCTURE, A, R, pack=2, bond_orders=ORDERS, aromatic_bond=4)
    assert critic.state_dict().keys() == plain.state_dict().keys()


def test_structure_features_follow_the_readout():
    torch.manual_seed(0)
    critic = Discriminator(STRUCTURE, A, R, pack=2, bond_orders=ORDERS, aromatic_bond=4)
    features = critic.encoder.structure
    # 4 cycle lengths + circuit rank + aromatic bonds and cycles + (A - 1) types x 7 valences
    assert features.out_channels == 4 + 1 + 5 + (A - 1) * 7
    assert critic.encoder.out_channels == CFG.aggregate_dim + features.out_channels
    assert critic.head[0].in_channels == 2 * critic.encoder.out_channels
    x, adj = random_graphs(6)
    embedding = critic.encoder(x, adj)
    expected = features(x[..., 1:], adj, 1 - x[..., 0])
    torch.testing.assert_close(embedding[:, CFG.aggregate_dim :], expected)
    assert critic(x, adj).shape == (3,)
    reward = RewardNetwork(STRUCTURE, A, R, bond_orders=ORDERS)
    assert reward.encoder.structure.aromatic_channel is None
    assert reward(x, adj).shape == (6,)
    assert "aromatic_channel=4" in repr(critic)


def test_structure_features_need_bond_orders():
    with pytest.raises(ValueError, match="structure_features needs the bond order"):
        Discriminator(STRUCTURE, A, R)
    with pytest.raises(ValueError, match=r"one order per bond class \(5\), got 3"):
        RewardNetwork(STRUCTURE, A, R, bond_orders=[0.0, 1.0, 2.0])


def test_structure_features_keep_padding_silent_and_gradients_in_every_channel():
    torch.manual_seed(0)
    critic = Discriminator(STRUCTURE, A, R, bond_orders=ORDERS, aromatic_bond=4)
    x, adj = random_graphs(4)
    scores = critic(x, adj)
    padding = x.argmax(-1) == 0
    noisy_adj = adj.clone()
    pad_pairs = padding[:, :, None] | padding[:, None, :]
    noisy_adj[pad_pairs] = torch.rand(adj.shape).softmax(-1)[pad_pairs]
    noisy_x = x.clone()
    noisy_x[padding, 1:] = torch.rand(int(padding.sum()), A - 1)
    torch.testing.assert_close(critic(noisy_x, noisy_adj), scores)
    adj.requires_grad_(True)
    critic(x, adj).sum().backward()
    real = x.argmax(-1) != 0
    assert torch.all(adj.grad[real[:, :, None] & real[:, None, :]] != 0)


def structure_critic_and_graphs(dtype):
    torch.manual_seed(0)
    critic = Discriminator(STRUCTURE, A, R, bond_orders=ORDERS, aromatic_bond=4).to(dtype)
    real, fake = (tuple(t.to(dtype) for t in random_graphs(4, seed)) for seed in (1, 2))
    epsilon = torch.rand(4, generator=torch.Generator().manual_seed(3), dtype=dtype)
    return critic, real, fake, epsilon


def objective_results(objective, critic, real, fake, epsilon):
    loss, stats = objective(critic, real, fake, epsilon, 10.0)
    return stats, torch.autograd.grad(loss, list(critic.parameters()))


def test_structure_features_in_the_functional_gradient_penalty():
    """torch.func.grad's penalty (the compiled form) equals double backward's, features on."""
    critic, real, fake, epsilon = structure_critic_and_graphs(torch.float64)
    (stats_a, grads_a), (stats_b, grads_b) = (
        objective_results(
            partial(critic_objective, functional_penalty=functional), critic, real, fake, epsilon
        )
        for functional in (False, True)
    )
    assert stats_a[2] > 0
    torch.testing.assert_close(stats_a, stats_b)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.slow  # torch.compile builds C++ kernels (tens of seconds on CPU)
def test_structure_features_compile_and_match_eager(cpp_compiler):
    """In float64, so that a difference is the compiled graph's and not float32 rounding (the
    cycle counts cancel large traces)."""
    critic, real, fake, epsilon = structure_critic_and_graphs(torch.float64)
    (stats_a, grads_a), (stats_b, grads_b) = (
        objective_results(objective, critic, real, fake, epsilon)
        for objective in (critic_objective, compile_critic_objective())
    )
    assert stats_a[2] > 0
    torch.testing.assert_close(stats_a, stats_b)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(a, b)
