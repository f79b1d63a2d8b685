"""WGAN-GP penalty and losses against hand computations; critic, generator and reward steps."""

import math

import pytest
import torch
from torch import nn

from molgen import gan
from molgen.config import DiscriminatorConfig, GeneratorConfig
from molgen.models import Discriminator, Generator, RewardNetwork

N, A, R = 5, 4, 3


class LinearCritic(nn.Module):
    """D(x, adj) = <w, x> + <v, adj> per critic input (pack graphs summed): its gradient is
    (w, v) for every graph, so the penalty is known exactly."""

    def __init__(self, pack=1, mixes_batch=False):
        super().__init__()
        self.pack = pack
        self.mixes_batch = mixes_batch
        generator = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(N, A, generator=generator, dtype=torch.float64) / 4)
        self.v = nn.Parameter(torch.randn(N, N, R, generator=generator, dtype=torch.float64) / 4)

    def forward(self, x, adj):
        per_graph = (x * self.w).sum((1, 2)) + (adj * self.v).sum((1, 2, 3))
        return per_graph.view(-1, self.pack).sum(1)


class QuadraticCritic(nn.Module):
    """D = (|x|^2 + |adj|^2) / 2 per graph: its gradient at an interpolate is the interpolate."""

    def forward(self, x, adj):
        return (x.pow(2).sum((1, 2)) + adj.pow(2).sum((1, 2, 3))) / 2


def graphs(batch, seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, N, A, generator=generator, dtype=torch.float64)
    adj = torch.rand(batch, N, N, R, generator=generator, dtype=torch.float64)
    return x, adj


@pytest.mark.parametrize("pack", [1, 2])
def test_gradient_penalty_of_a_linear_critic_is_exact(pack):
    critic = LinearCritic(pack)
    norm = math.sqrt(pack * (critic.w.pow(2).sum() + critic.v.pow(2).sum()).item())
    penalty = gan.gradient_penalty(critic, graphs(6, 1), graphs(6, 2))
    torch.testing.assert_close(penalty.item(), (norm - 1) ** 2)
    # create_graph: the penalty trains the critic, d/dw (norm - 1)^2 = 2 (norm - 1) pack w / norm.
    penalty.backward()
    torch.testing.assert_close(critic.w.grad, 2 * (norm - 1) * pack * critic.w.detach() / norm)


def test_gradient_penalty_uses_one_epsilon_per_critic_input():
    real, fake = graphs(4, 1), graphs(4, 2)
    penalty = gan.gradient_penalty(
        QuadraticCritic(), real, fake, generator=torch.Generator().manual_seed(7)
    )
    epsilon = torch.rand(4, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    norms = []
    for b in range(4):
        x_hat = epsilon[b] * real[0][b] + (1 - epsilon[b]) * fake[0][b]
        adj_hat = epsilon[b] * real[1][b] + (1 - epsilon[b]) * fake[1][b]
        norms.append(math.sqrt(x_hat.pow(2).sum() + adj_hat.pow(2).sum()))
    expected = sum((n - 1) ** 2 for n in norms) / 4
    torch.testing.assert_close(penalty.item(), expected)


def test_gradient_penalty_accepts_lower_precision_fakes():
    critic = LinearCritic()
    real, fake = graphs(4, 1), graphs(4, 2)
    fake = tuple(t.to(torch.bfloat16) for t in fake)
    norm = math.sqrt((critic.w.pow(2).sum() + critic.v.pow(2).sum()).item())
    torch.testing.assert_close(gan.gradient_penalty(critic, real, fake).item(), (norm - 1) ** 2)


def test_gradient_penalty_checks_its_inputs():
    with pytest.raises(ValueError, match="real and fake adj must have the same shape"):
        gan.gradient_penalty(LinearCritic(), graphs(4, 1), (graphs(4, 2)[0], torch.zeros(4, 1)))
    with pytest.raises(ValueError, match="not divisible by the critic's pack=3"):
        gan.gradient_penalty(LinearCritic(3), graphs(4, 1), graphs(4, 2))


@pytest.mark.parametrize("mixes_batch", [False, True])
def test_critic_loss_value_and_statistics(mixes_batch):
    critic = LinearCritic(mixes_batch=mixes_batch)
    real, fake = graphs(6, 1), graphs(6, 2)
    fake = tuple(t.requires_grad_(True) for t in fake)
    loss, stats = gan.critic_loss(critic, real, fake, gp_weight=10.0)
    with torch.no_grad():
        d_real, d_fake = critic(*real).mean().item(), critic(*fake).mean().item()
        norm = math.sqrt((critic.w.pow(2).sum() + critic.v.pow(2).sum()).item())
    gp = (norm - 1) ** 2
    torch.testing.assert_close(loss.item(), d_fake - d_real + 10 * gp)
    assert stats == pytest.approx(
        {
            "critic_loss": d_fake - d_real + 10 * gp,
            "wasserstein": d_real - d_fake,
            "gradient_penalty": gp,
            "critic_real": d_real,
            "critic_fake": d_fake,
        }
    )
    loss.backward()
    assert fake[0].grad is None and fake[1].grad is None  # the critic step stops at the fake
    _, stats = gan.critic_loss(critic, real, fake, gp_weight=0.0)
    assert stats["gradient_penalty"] == 0.0
    with pytest.raises(ValueError, match="gp_weight"):
        gan.critic_loss(critic, real, fake, gp_weight=-1.0)


def test_critic_attributes_are_read_through_data_parallel_wrappers():
    """A wrapped minibatch-std critic still scores real and fake separately and packs by 2."""
    torch.manual_seed(0)
    cfg = DiscriminatorConfig(conv_dims=[8], aggregate_dim=8, mlp_dims=[8])
    critic = Discriminator(cfg, A, R, pack=2, minibatch_std=True).double()
    real, fake = graphs(4, 1), graphs(4, 2)
    _, stats = gan.critic_loss(nn.DataParallel(critic), real, fake, gp_weight=0.0)
    assert stats["critic_real"] == pytest.approx(critic(*real).mean().item())
    assert stats["critic_fake"] == pytest.approx(critic(*fake).mean().item())
    with pytest.raises(ValueError, match="pack=2"):
        gan.gradient_penalty(nn.DataParallel(critic), graphs(3, 1), graphs(3, 2))


def test_diversity_loss_on_a_hand_checked_example():
    # Graph distances (mean |.| over 2 entries): (0,1) 0.5, (0,2) 1, (1,2) 0.5.
    # Noise distances (mean |.| over 2 entries): (0,1) 1, (0,2) 1, (1,2) 2.
    # Ratios 0.5, 1, 0.25: mean 7/12, loss 1 / (7/12 + eps).
    samples = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    loss = gan.diversity_loss([samples], z, eps=1e-5)
    torch.testing.assert_close(loss.item(), 1 / (7 / 12 + 1e-5))
    # Split into two tensors (atoms and bonds), the entries are pooled: same value.
    torch.testing.assert_close(gan.diversity_loss([samples[:, :1], samples[:, 1:]], z), loss)


def test_diversity_loss_pushes_samples_apart_and_is_blind_to_identical_ones():
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    probabilities = torch.rand(4, 6, generator=torch.Generator().manual_seed(1)).requires_grad_()
    gan.diversity_loss([probabilities], z).backward()
    # Gradient descent moves each sample away from the others: d/dp_a of sum |p_a - p_b|.
    direction = torch.stack(
        [sum(torch.sign(probabilities[a] - probabilities[b]) for b in range(4)) for a in range(4)]
    )
    assert torch.all(probabilities.grad * direction < 0)
    identical = torch.ones(4, 6, requires_grad=True)  # a collapsed batch of hard samples
    gan.diversity_loss([identical], z).backward()
    assert torch.all(identical.grad == 0)
    with pytest.raises(ValueError, match="batch >= 2"):
        gan.diversity_loss([identical[:1]], z[:1])


def test_generator_loss_mixes_wgan_and_rl_terms():
    critic = LinearCritic()
    reward_net = LinearCritic()
    with torch.no_grad():
        reward_net.w.fill_(0.01)
        reward_net.v.fill_(0.0)
    fake = graphs(4, 3)
    wgan = -critic(*fake).mean().item()
    rl = -reward_net(*fake).mean().item()
    loss, stats = gan.generator_loss(critic, fake, reward_net=reward_net, rl_weight=0.25)
    scale = abs(wgan / rl)
    torch.testing.assert_close(loss.item(), 0.75 * wgan + 0.25 * scale * rl)
    assert stats["rl_scale"] == pytest.approx(scale)
    loss, _ = gan.generator_loss(
        critic, fake, reward_net=reward_net, rl_weight=0.25, match_scale=False
    )
    torch.testing.assert_close(loss.item(), 0.75 * wgan + 0.25 * rl)
    loss, stats = gan.generator_loss(critic, fake)
    torch.testing.assert_close(loss.item(), wgan)
    assert set(stats) == {"generator_loss", "generator_wgan"}


def test_generator_loss_freezes_the_critic_and_adds_diversity():
    critic = LinearCritic()
    x, adj = (t.requires_grad_(True) for t in graphs(4, 3))
    z = torch.randn(4, 2, dtype=torch.float64)
    loss, stats = gan.generator_loss(critic, (x, adj), diversity_weight=0.5, z=z)
    expected = -critic(x, adj).mean() + 0.5 * gan.diversity_loss([x, adj], z)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert critic.w.grad is None and critic.w.requires_grad  # frozen, then restored
    assert x.grad is not None and adj.grad is not None
    with pytest.raises(ValueError, match="reward_net"):
        gan.generator_loss(critic, (x, adj), rl_weight=0.5)
    with pytest.raises(ValueError, match="noise z"):
        gan.generator_loss(critic, (x, adj), diversity_weight=1.0)
    with pytest.raises(ValueError, match="rl_weight"):
        gan.generator_loss(critic, (x, adj), reward_net=critic, rl_weight=1.5)


def test_reward_loss_is_mse_and_checks_targets():
    torch.manual_seed(0)
    reward_net = RewardNetwork(
        DiscriminatorConfig(conv_dims=[8], aggregate_dim=8, mlp_dims=[8]), A, R
    )
    x, adj = graphs(5, 4)
    x, adj = x.float(), adj.float()
    target = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    loss = gan.reward_loss(reward_net, (x, adj), target)
    torch.testing.assert_close(loss, (reward_net(x, adj) - target).pow(2).mean())
    with pytest.raises(ValueError, match="shape"):
        gan.reward_loss(reward_net, (x, adj), target[:4])
    for bad in (1.5, float("nan")):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            gan.reward_loss(reward_net, (x, adj), torch.full((5,), bad))


def test_wgan_gp_critic_and_generator_steps_run_and_update_parameters():
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(hidden=[32, 32]), N, A, R)
    cfg = DiscriminatorConfig(conv_dims=[16, 8], aggregate_dim=16, mlp_dims=[16])
    critic = Discriminator(cfg, A, R, pack=2, minibatch_std=True)
    reward_net = RewardNetwork(cfg, A, R)
    optimizers = {
        name: torch.optim.Adam(module.parameters(), lr=1e-3)
        for name, module in (("g", generator), ("d", critic), ("r", reward_net))
    }
    real_x, real_adj = generator(generator.sample_noise(8), 1.0)  # any one-hot graphs will do
    real = (real_x.detach(), real_adj.detach())
    snapshot = {
        n: [p.detach().clone() for p in optimizers[n].param_groups[0]["params"]] for n in "gdr"
    }

    z = generator.sample_noise(8)
    with torch.no_grad():
        fake = generator(z, 0.5)
    loss, stats = gan.critic_loss(critic, real, fake, gp_weight=10.0)
    assert math.isfinite(loss.item()) and stats["gradient_penalty"] > 0
    optimizers["d"].zero_grad()
    loss.backward()
    optimizers["d"].step()

    loss = gan.reward_loss(reward_net, fake, torch.rand(8))
    optimizers["r"].zero_grad()
    loss.backward()
    optimizers["r"].step()

    critic_grads = [p.grad.clone() for p in critic.parameters()]
    atom_logits, bond_logits = generator.logits(z)
    fake = generator.sample_from_logits(atom_logits, bond_logits, 0.5)
    probabilities = (atom_logits.softmax(-1), bond_logits.softmax(-1))
    loss, stats = gan.generator_loss(
        critic,
        fake,
        reward_net=reward_net,
        rl_weight=0.5,
        diversity_weight=0.1,
        z=z,
        diversity_inputs=probabilities,
    )
    assert set(stats) >= {"generator_rl", "reward_fake", "rl_scale", "diversity"}
    optimizers["g"].zero_grad()
    loss.backward()
    optimizers["g"].step()
    # The critic is frozen during the generator loss: its gradients are untouched.
    assert all(
        torch.equal(g, p.grad) for g, p in zip(critic_grads, critic.parameters(), strict=True)
    )

    for name in "gdr":
        params = optimizers[name].param_groups[0]["params"]
        # E[D(fake)] - E[D(real)] + GP does not depend on the critic's output bias.
        count = len(params) - 1 if name == "d" else len(params)
        changed = [not torch.equal(a, b) for a, b in zip(snapshot[name], params, strict=True)]
        assert all(changed[:count]), name
    torch.testing.assert_close(critic.head[-1].bias, torch.zeros(1))


def small_discriminator(**kwargs):
    torch.manual_seed(0)
    cfg = DiscriminatorConfig(conv_dims=[8, 6], aggregate_dim=8, mlp_dims=[8])
    return Discriminator(cfg, A, R, **kwargs).double()


@pytest.mark.parametrize("pack", [1, 2])
def test_functional_penalty_equals_double_backward(pack):
    """torch.func.grad's penalty (the compilable form) has the same value and the same
    parameter gradients as autograd.grad(create_graph=True)'s, on a real critic."""
    critic = small_discriminator(pack=pack)
    real, fake = graphs(6, 1), graphs(6, 2)
    epsilon = torch.rand(6 // pack, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    results = []
    for functional in (False, True):
        loss, stats = gan.critic_objective(
            critic, real, fake, epsilon, 10.0, functional_penalty=functional
        )
        results.append((loss, stats, torch.autograd.grad(loss, list(critic.parameters()))))
    (loss_a, stats_a, grads_a), (loss_b, stats_b, grads_b) = results
    assert stats_a[2] > 0  # a real penalty, not the zero of gp_weight=0
    torch.testing.assert_close(loss_a, loss_b)
    torch.testing.assert_close(stats_a, stats_b)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(a, b)


def test_functional_penalty_of_a_linear_critic_is_exact():
    critic = LinearCritic()
    norm = math.sqrt((critic.w.pow(2).sum() + critic.v.pow(2).sum()).item())
    epsilon = torch.full((6,), 0.5, dtype=torch.float64)
    _, stats = gan.critic_objective(
        critic, graphs(6, 1), graphs(6, 2), epsilon, 1.0, functional_penalty=True
    )
    assert dict(zip(gan.CRITIC_STATS, stats.tolist(), strict=True))[
        "gradient_penalty"
    ] == pytest.approx((norm - 1) ** 2)


def test_critic_objective_checks_epsilon():
    with pytest.raises(ValueError, match=r"epsilon must have shape \(3,\)"):
        gan.critic_objective(LinearCritic(pack=2), graphs(6, 1), graphs(6, 2), None, 10.0)
    with pytest.raises(ValueError, match=r"epsilon must have shape \(6,\)"):
        gan.critic_objective(
            LinearCritic(), graphs(6, 1), graphs(6, 2), torch.rand(3, dtype=torch.float64), 10.0
        )


@pytest.mark.slow  # torch.compile builds C++ kernels (tens of seconds on CPU)
def test_compiled_critic_objective_matches_eager(cpp_compiler):
    critic = small_discriminator().float()
    real, fake = (tuple(t.float() for t in graphs(4, seed)) for seed in (1, 2))
    epsilon = torch.rand(4, generator=torch.Generator().manual_seed(3))
    compiled = gan.compile_critic_objective()
    results = []
    for objective in (gan.critic_objective, compiled):
        loss, stats = objective(critic, real, fake, epsilon, 10.0)
        results.append((stats, torch.autograd.grad(loss, list(critic.parameters()))))
    (stats_a, grads_a), (stats_b, grads_b) = results
    torch.testing.assert_close(stats_a, stats_b, rtol=1e-4, atol=1e-5)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
