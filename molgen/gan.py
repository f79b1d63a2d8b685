r"""MolGAN's objectives: WGAN-GP critic loss, generator loss with the RL term, diversity, reward.

A graph is a pair ``(x, adj)`` of float tensors ``[B, N, A]`` and ``[B, N, N, R]``; a critic is
any module mapping a graph to scores ``[B / pack]`` (``critic.pack`` graphs per score, 1 when
the attribute is absent; attributes are read through DistributedDataParallel wrappers). Every
function returns a scalar loss to minimise; the ``*_loss`` functions also return a dict of
float statistics for logging.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CRITIC_STATS",
    "compile_critic_objective",
    "critic_loss",
    "critic_objective",
    "diversity_loss",
    "generator_loss",
    "gradient_penalty",
    "reward_loss",
]

Graph = tuple[Tensor, ...]  # (x, adj), or (x, adj, sites) for fragment graphs


def _check_graphs(real: Graph, fake: Graph) -> None:
    # A graph is (x, adj), or (x, adj, sites) for fragment graphs: every part is checked.
    if len(real) != len(fake):
        raise ValueError(f"real and fake graphs have {len(real)} and {len(fake)} parts")
    for name, a, b in zip(("x", "adj", "sites"), real, fake, strict=False):
        if a.shape != b.shape:
            raise ValueError(
                f"real and fake {name} must have the same shape, got {tuple(a.shape)} and "
                f"{tuple(b.shape)}"
            )


def _stats(**values: Tensor) -> dict[str, float]:
    # One host transfer for all statistics instead of one .item() each.
    numbers = torch.stack([v.detach().float() for v in values.values()]).tolist()
    return dict(zip(values, numbers, strict=True))


def _unwrapped(module: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel / DataParallel wrapper, for its attributes."""
    return getattr(module, "module", module)


def _pack(critic: nn.Module, batch: int) -> int:
    pack = getattr(_unwrapped(critic), "pack", 1)
    if batch % pack:
        raise ValueError(f"batch size {batch} is not divisible by the critic's pack={pack}")
    return pack


def _epsilon(real: Graph, pack: int, generator: torch.Generator | None) -> Tensor:
    """One interpolation weight per critic input, ``[B / pack]``, in the real graphs' dtype."""
    x = real[0]
    return torch.rand(x.shape[0] // pack, generator=generator, device=x.device, dtype=x.dtype)


def _interpolate(real: Graph, fake: Graph, epsilon: Tensor, pack: int) -> list[Tensor]:
    """Detached interpolates ``fake + epsilon (real - fake)``, one epsilon per critic input.

    They take the real graphs' dtype (under autocast the fake ones may be in lower precision).
    """
    epsilon = epsilon.repeat_interleave(pack)
    return [
        torch.lerp(f.detach().to(r.dtype), r.detach(), epsilon.view(-1, *[1] * (r.dim() - 1)))
        for r, f in zip(real, fake, strict=True)
    ]


def _penalty(
    critic: nn.Module, real: Graph, fake: Graph, epsilon: Tensor, pack: int, functional: bool
) -> Tensor:
    """Mean of (||d score_k / d input_k|| - 1)^2 over the critic inputs k, at the interpolates
    of ``real`` and ``fake`` with weights ``epsilon [K]``.

    ``functional=False`` takes the input gradient with ``autograd.grad(create_graph=True)`` and
    backpropagates through it by double backward (faster in eager mode). ``functional=True``
    takes it with :func:`torch.func.grad`, whose result is an ordinary differentiable
    expression: this is the form ``torch.compile`` can trace and fuse whole.
    """
    interpolates = _interpolate(real, fake, epsilon, pack)
    if functional:
        parts = tuple(range(len(interpolates)))
        grads = torch.func.grad(lambda *graph: critic(*graph).sum(), argnums=parts)(*interpolates)
    else:
        interpolates = [t.requires_grad_() for t in interpolates]
        grads = torch.autograd.grad(critic(*interpolates).sum(), interpolates, create_graph=True)
    squared_norm = sum(g.reshape(len(epsilon), -1).pow(2).sum(1) for g in grads)
    return (torch.sqrt(squared_norm + 1e-12) - 1).pow(2).mean()


def gradient_penalty(
    critic: nn.Module, real: Graph, fake: Graph, *, generator: torch.Generator | None = None
) -> Tensor:
    r"""WGAN-GP penalty (Gulrajani et al., 2017) on interpolates of both atoms and bonds.

    .. math::
        \hat G_k = \epsilon_k G^{\text{real}}_k + (1 - \epsilon_k) G^{\text{fake}}_k,
        \quad \epsilon_k \sim U(0, 1), \qquad
        \mathrm{GP} = \frac{1}{K} \sum_{k=1}^{K} \Big( \big\| \big(\nabla_{\hat X_k} D,
        \nabla_{\hat A_k} D\big)(\hat G_k) \big\|_2 - 1 \Big)^2

    where :math:`k` runs over the :math:`K = B / \text{pack}` critic inputs, each a group of
    ``pack`` consecutive graphs that shares one :math:`\epsilon_k`, and the norm is taken over all
    entries of that input (atoms and bonds of all its graphs), so the penalty constrains the
    critic's actual input. (With a critic whose scores mix the batch, e.g. minibatch std, the
    gradient of the summed scores also carries the other inputs' dependence on this one, as in
    Karras et al., 2018.) Inputs are detached: the penalty trains only the critic. The gradient
    stays differentiable, so the penalty can be backpropagated.
    ``1e-12`` is added under the square root so a zero gradient has a finite derivative.

    Args:
        critic: maps ``(x, adj)`` to ``[B / pack]`` scores.
        real, fake: graphs ``(x [B, N, A], adj [B, N, N, R])``.
        generator: random source for :math:`\epsilon`.

    Returns:
        Scalar tensor.
    """
    _check_graphs(real, fake)
    pack = _pack(critic, real[0].shape[0])
    epsilon = _epsilon(real, pack, generator)
    return _penalty(critic, real, fake, epsilon, pack, functional=False)


#: Names of the statistics vector returned by :func:`critic_objective`, in order.
CRITIC_STATS = ("critic_loss", "wasserstein", "gradient_penalty", "critic_real", "critic_fake")


def critic_objective(
    critic: nn.Module,
    real: Graph,
    fake: Graph,
    epsilon: Tensor | None,
    gp_weight: float,
    *,
    functional_penalty: bool = False,
) -> tuple[Tensor, Tensor]:
    r"""The WGAN-GP critic loss for given interpolation weights, as tensors only.

    The body of :func:`critic_loss` without its random draw and host transfer, so that
    :func:`compile_critic_objective` can trace the whole critic step (scores, penalty, and
    through autograd its backward) as one graph. On one CPU thread at batch 16 that makes the
    loss and its backward about 1.6x faster (a whole training critic step 1.1-1.5x, batch
    16-128; see scripts/bench_train.py).

    Args:
        critic, real, fake, gp_weight: as in :func:`critic_loss`.
        epsilon: ``[B / pack]`` interpolation weights in [0, 1] (None when ``gp_weight == 0``).
        functional_penalty: take the penalty's input gradient with :func:`torch.func.grad`
            (for ``torch.compile``) instead of double backward (faster in eager mode).

    Returns:
        The scalar loss and a ``[5]`` tensor of the statistics named by :data:`CRITIC_STATS`.
    """
    if gp_weight < 0:
        raise ValueError(f"gp_weight must be >= 0, got {gp_weight}")
    _check_graphs(real, fake)
    pack = _pack(critic, real[0].shape[0])
    fake = tuple(part.detach() for part in fake)
    if getattr(_unwrapped(critic), "mixes_batch", False):
        score_real, score_fake = critic(*real).mean(), critic(*fake).mean()
    else:
        joint = critic(*(torch.cat([r, f]) for r, f in zip(real, fake, strict=True)))
        score_real, score_fake = (half.mean() for half in joint.chunk(2))
    if gp_weight > 0:
        if epsilon is None or epsilon.shape != (real[0].shape[0] // pack,):
            raise ValueError(
                f"epsilon must have shape ({real[0].shape[0] // pack},) (one weight per critic "
                f"input), got {None if epsilon is None else tuple(epsilon.shape)}"
            )
        penalty = _penalty(critic, real, fake, epsilon, pack, functional_penalty)
    else:
        penalty = score_real.new_zeros(())
    loss = score_fake - score_real + gp_weight * penalty
    stats = torch.stack([loss, score_real - score_fake, penalty, score_real, score_fake])
    return loss, stats.detach().float()


def compile_critic_objective() -> Callable[..., tuple[Tensor, Tensor]]:
    """:func:`critic_objective` with the functional penalty, under ``torch.compile``: one graph
    with no breaks (``fullgraph``), specialised to the shapes it first sees (``dynamic=False``:
    a training run's batch size never changes). Compiles on its first call."""
    return torch.compile(
        partial(critic_objective, functional_penalty=True), fullgraph=True, dynamic=False
    )


def critic_loss(
    critic: nn.Module,
    real: Graph,
    fake: Graph,
    gp_weight: float,
    *,
    generator: torch.Generator | None = None,
    objective: Callable[..., tuple[Tensor, Tensor]] = critic_objective,
) -> tuple[Tensor, dict[str, float]]:
    r"""WGAN-GP critic loss :math:`\mathbb{E}[D(G^{\text{fake}})] - \mathbb{E}[D(G^{\text{real}})]
    + \lambda_{\text{GP}} \mathrm{GP}`.

    ``fake`` is detached (the critic step does not reach the generator). With ``gp_weight == 0``
    the penalty is not computed. Real and fake graphs are scored in one call of the critic (one
    pass of fewer, larger matmuls) unless ``critic.mixes_batch`` is true (its scores depend on
    the rest of the batch, e.g. minibatch std). The penalty's interpolates get a call of their
    own: in a joint call its double backward would run over all rows.
    ``objective`` computes the loss from the drawn :math:`\epsilon`: :func:`critic_objective` or
    :func:`compile_critic_objective`'s compiled version of it.
    Statistics: ``critic_loss``, ``wasserstein`` (:math:`\mathbb{E}[D(\text{real})] -
    \mathbb{E}[D(\text{fake})]`, the critic's estimate of the Wasserstein distance),
    ``gradient_penalty``, ``critic_real``, ``critic_fake``.
    """
    pack = _pack(critic, real[0].shape[0])
    epsilon = _epsilon(real, pack, generator) if gp_weight > 0 else None
    loss, stats = objective(critic, real, fake, epsilon, gp_weight)
    # One host transfer for all statistics instead of one .item() each.
    return loss, dict(zip(CRITIC_STATS, stats.tolist(), strict=True))


@contextmanager
def _frozen(*modules: nn.Module | None) -> Iterator[None]:
    """Parameters of ``modules`` do not require grad inside the block (restored after)."""
    params = [p for m in modules if m is not None for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def diversity_loss(graphs: Sequence[Tensor], z: Tensor, *, eps: float = 1e-5) -> Tensor:
    r"""Mode-seeking diversity term (Mao et al., 2019, "MSGAN"), over all pairs of the batch.

    .. math::
        d_G(a, b) = \frac{1}{D} \sum_{t} \| g^{(t)}_a - g^{(t)}_b \|_1, \quad
        d_z(a, b) = \frac{1}{Z} \| z_a - z_b \|_1, \quad
        \mathcal{L}_{\text{div}} = \Big( \frac{2}{B(B-1)} \sum_{a < b}
        \frac{d_G(a, b)}{\max(d_z(a, b), \epsilon)} + \epsilon \Big)^{-1}

    where :math:`g^{(t)}` runs over the tensors in ``graphs`` (e.g. atoms and bonds), :math:`D`
    is the total number of their entries per sample and :math:`Z` the size of ``z``. Minimising
    it pushes samples from different noise vectors apart, in proportion to how far apart the
    noise vectors are. MSGAN pairs two samples and uses the ratio of batch means; averaging the
    per-pair ratio over all :math:`B(B-1)/2` pairs uses the whole batch.

    Pass the generator's probabilities (``softmax`` of its logits) rather than its hard samples:
    two identical one-hot samples are at distance 0, where the L1 distance has zero gradient,
    so a collapsed generator would get no signal from its samples.

    Args:
        graphs: tensors with the batch as first dimension, e.g. ``(x, adj)``.
        z: the noise ``[B, Z]`` that produced them.
        eps: guards both divisions.

    Returns:
        Scalar tensor, positive.
    """
    batch = z.shape[0]
    if z.dim() != 2 or batch < 2:
        raise ValueError(f"z must have shape (batch >= 2, z_dim), got {tuple(z.shape)}")
    for g in graphs:
        if g.shape[0] != batch:
            raise ValueError(
                f"graphs and z must share the batch size {batch}, got {tuple(g.shape)}"
            )
    flat = torch.cat([g.reshape(batch, -1) for g in graphs], dim=1)
    rows, cols = torch.triu_indices(batch, batch, offset=1, device=z.device)
    graph_distance = torch.cdist(flat, flat, p=1)[rows, cols] / flat.shape[1]
    noise_distance = torch.cdist(z, z, p=1)[rows, cols] / z.shape[1]
    ratio = graph_distance / noise_distance.clamp(min=eps)
    return 1 / (ratio.mean() + eps)


def generator_loss(
    critic: nn.Module,
    fake: Graph,
    *,
    reward_net: nn.Module | None = None,
    rl_weight: float = 0.0,
    match_scale: bool = True,
    diversity_weight: float = 0.0,
    z: Tensor | None = None,
    diversity_inputs: Sequence[Tensor] | None = None,
) -> tuple[Tensor, dict[str, float]]:
    r"""MolGAN's generator loss with an optional mode-seeking diversity term.

    .. math::
        \mathcal{L} = (1 - \lambda) \mathcal{L}_{\text{WGAN}}
        + \lambda \alpha \mathcal{L}_{\text{RL}} + w_{\text{div}} \mathcal{L}_{\text{div}}, \quad
        \mathcal{L}_{\text{WGAN}} = -\mathbb{E}[D(G)], \quad
        \mathcal{L}_{\text{RL}} = -\mathbb{E}[\hat R(G)]

    with :math:`\lambda` = ``rl_weight``. Scale matching (``match_scale=True``, as in MolGAN's
    reference code): :math:`\alpha = |\mathcal{L}_{\text{WGAN}} / \mathcal{L}_{\text{RL}}|`
    treated as a constant, so both terms have the same magnitude and :math:`\lambda` is a pure
    mixing proportion even though critic scores are unbounded; ``match_scale=False`` uses
    :math:`\alpha = 1`. (MolGAN's own ``la`` weighs the WGAN term, i.e. ``la = 1 - rl_weight``.)
    :math:`\mathcal{L}_{\text{div}}` is :func:`diversity_loss` of ``diversity_inputs``
    (default: ``fake``; pass the generator's probabilities, see there) and ``z``.

    The critic's and reward network's parameters are frozen while they score ``fake``: the
    loss's gradient reaches the generator only, and backward skips their weight gradients.

    Statistics: ``generator_loss``, ``generator_wgan``, and when enabled ``generator_rl``,
    ``reward_fake`` (mean predicted reward), ``rl_scale`` (:math:`\alpha`), ``diversity``.
    """
    if not 0.0 <= rl_weight <= 1.0:
        raise ValueError(f"rl_weight must be in [0, 1], got {rl_weight}")
    if diversity_weight < 0:
        raise ValueError(f"diversity_weight must be >= 0, got {diversity_weight}")
    if rl_weight > 0 and reward_net is None:
        raise ValueError("rl_weight > 0 needs a reward_net")
    if diversity_weight > 0 and z is None:
        raise ValueError("diversity_weight > 0 needs the noise z that produced fake")
    with _frozen(critic, reward_net if rl_weight > 0 else None):
        wgan = -critic(*fake).mean()
        reward = reward_net(*fake).mean() if rl_weight > 0 else None
    loss = (1 - rl_weight) * wgan
    stats = {"generator_wgan": wgan}
    if reward is not None:
        rl = -reward
        scale = (wgan / rl).abs().detach() if match_scale else torch.ones_like(rl)
        loss = loss + rl_weight * scale * rl
        stats.update(generator_rl=rl, reward_fake=reward, rl_scale=scale)
    if diversity_weight > 0:
        diversity = diversity_loss(fake if diversity_inputs is None else diversity_inputs, z)
        loss = loss + diversity_weight * diversity
        stats["diversity"] = diversity
    return loss, _stats(generator_loss=loss, **stats)


def reward_loss(reward_net: nn.Module, graphs: Graph, target_rewards: Tensor) -> Tensor:
    r"""Mean squared error :math:`\frac{1}{B} \sum_b (\hat R(G_b) - r_b)^2` against RDKit rewards.

    MolGAN fits the reward network on real and generated graphs alike; pass both (concatenated,
    or in two calls). ``target_rewards`` is ``[B]`` with values in [0, 1].
    """
    batch = graphs[0].shape[0]
    if target_rewards.shape != (batch,):
        raise ValueError(
            f"target_rewards must have shape ({batch},), got {tuple(target_rewards.shape)}"
        )
    if not bool(((target_rewards >= 0) & (target_rewards <= 1)).all()):
        raise ValueError("target_rewards must lie in [0, 1]")
    prediction = reward_net(*graphs)
    return F.mse_loss(prediction, target_rewards.to(prediction.dtype))
