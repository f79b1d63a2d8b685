"""One function per part of a training step, each an update of the state it is given.

:func:`real_batch` draws training graphs, :func:`critic_step` is one WGAN-GP critic update,
:func:`generate` a fake batch for :func:`generator_step`, :func:`reward_step` one update of the
reward network (with RL), and :func:`update_ema` moves the averaged generator. Every update
goes through :func:`_update`, which refuses a non-finite loss, gradient or weight
(:class:`TrainingDiverged`).

The steps keep their numbers on the device where they can (gradient norms are read when
logged); each place where the host waits for the device is marked "host sync", with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from molgen.gan import critic_loss, generator_loss, reward_loss
from molgen.training.state import Runtime, TrainState

__all__ = [
    "Fake",
    "TrainingDiverged",
    "Update",
    "critic_step",
    "ema_decay_at",
    "generate",
    "generator_step",
    "real_batch",
    "reward_step",
    "update_ema",
]

# one-hot atoms [B, N, A], bonds [B, N, N, R] (and sites [B, N, N, S] for fragment graphs)
Graph = tuple[torch.Tensor, ...]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is left untouched."""


class Update(NamedTuple):
    """One optimiser step's loss, statistics for logging, and gradient norm (before clipping)."""

    loss: torch.Tensor
    stats: dict[str, float]
    grad_norm: torch.Tensor  # 0-d, on the device: read when logged


class Fake(NamedTuple):
    """A batch from the generator, with what its losses need besides the graphs."""

    z: torch.Tensor  # [B, Z]
    graph: Graph  # [B, N, A], [B, N, N, R]: straight-through one-hot samples
    logits: Graph  # atoms [B, N, A], bonds of the pairs i < j [B, N(N-1)/2, R]


def real_batch(state: TrainState, rt: Runtime) -> Graph:
    """``train.batch_size`` training graphs drawn with ``state.data_rng``, one-hot (fragment
    graphs: with their sites, :func:`~molgen.data.fragments.fragment_batch`)."""
    train_x, train_adj = state.dataset.train.x, state.dataset.train.adj  # uint8 [M, N], [M, N, N]
    idx = torch.randint(len(train_x), (state.cfg.train.batch_size,), generator=state.data_rng)
    if state.cfg.data.representation == "fragments":
        from molgen.data.fragments import fragment_batch  # RDKit: fragment runs only

        return fragment_batch(state.dataset.train, idx, state.vocab, rt.device)
    x = F.one_hot(train_x[idx].to(rt.device).long(), state.vocab.num_atom_types).float()
    adj = F.one_hot(train_adj[idx].to(rt.device).long(), state.vocab.num_bond_types).float()
    return x, adj  # [B, N, A], [B, N, N, R]


def critic_step(state: TrainState, rt: Runtime, real: Graph, tau: float) -> Update:
    """One WGAN-GP critic update against a fresh fake batch (the generator is not trained)."""
    batch_size = real[0].shape[0]
    with torch.no_grad(), rt.autocast:
        z = state.generator.sample_noise(
            batch_size, generator=state.noise_rng, device=rt.device
        )  # [B, Z]
        fake = state.generator(z, tau, generator=state.noise_rng)  # [B, N, A], [B, N, N, R]
    with rt.autocast:
        # host sync: molgen.gan hands back its statistics as floats, in one transfer
        loss, stats = critic_loss(
            rt.critic, real, fake, state.cfg.gan.gp_weight, objective=rt.critic_objective
        )
    clip = state.cfg.train.grad_clip
    grad_norm = _update(loss, state.opt_critic, state.critic, clip, "critic", state, rt)
    return Update(loss, stats, grad_norm)


def generate(state: TrainState, rt: Runtime, tau: float) -> Fake:
    """A fake batch for the generator's own step (with gradients, through the DDP view)."""
    z = state.generator.sample_noise(
        state.cfg.train.batch_size, generator=state.noise_rng, device=rt.device
    )  # [B, Z]
    with rt.autocast:
        graph, atom_logits, bond_logits = rt.generator(
            z, tau, generator=state.noise_rng, return_logits=True
        )
    return Fake(z, graph, (atom_logits, bond_logits))


def reward_step(state: TrainState, rt: Runtime, real: Graph, fake: Fake) -> dict[str, float]:
    """One update of the reward network towards RDKit's rewards of real and generated graphs."""
    graphs = tuple(
        torch.cat([r, f.detach()]) for r, f in zip(real, fake.graph, strict=True)
    )  # [2B, N, A], [2B, N, N, R]
    from molgen.training.rewards import molecule_rewards  # RDKit: molecule runs only

    # host sync: RDKit scores the graphs on the host
    target = molecule_rewards(graphs, state.vocab, state.cfg.reward.objectives).to(
        rt.device
    )  # [2B]
    loss = reward_loss(rt.reward_net, graphs, target)
    _update(loss, state.opt_reward, state.reward_net, None, "reward", state, rt)
    # host sync: both numbers in one transfer (this step waited for RDKit's scores anyway)
    numbers = torch.stack([loss.detach(), target[len(real[0]) :].mean()]).tolist()
    return dict(zip(("reward_loss", "reward_rdkit_fake"), numbers, strict=True))


def generator_step(state: TrainState, rt: Runtime, fake: Fake) -> Update:
    """One generator update: adversarial, + RL once ``gan.rl_start`` is reached, + diversity."""
    gan = state.cfg.gan
    with rt.autocast:
        # host sync: molgen.gan hands back its statistics as floats, in one transfer
        loss, stats = generator_loss(
            state.critic,
            fake.graph,
            reward_net=state.reward_net,
            rl_weight=gan.rl_weight if state.step >= gan.rl_start else 0.0,
            diversity_weight=gan.diversity_weight,
            z=fake.z,
            # Probabilities, not samples: identical one-hots give no gradient.
            diversity_inputs=tuple(logits.softmax(-1) for logits in fake.logits)
            if gan.diversity_weight > 0
            else None,
        )
    clip = state.cfg.train.grad_clip
    grad_norm = _update(loss, state.opt_generator, state.generator, clip, "generator", state, rt)
    return Update(loss, stats, grad_norm)


def _update(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    module: torch.nn.Module,
    max_norm: float | None,
    name: str,
    state: TrainState,
    rt: Runtime,
) -> torch.Tensor:
    """Backpropagate ``loss``, clip (if configured), refuse non-finite updates, step; returns
    the gradient norm before clipping (0-d, on the device) for logging."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(
        module.parameters(), max_norm if max_norm is not None else float("inf")
    )
    _check_finite(loss, grad_norm, name, state.step, rt.checkpoint)
    optimizer.step()
    _check_finite_weights(optimizer, name, state.step, rt.checkpoint)
    return grad_norm


def _check_finite(
    loss: torch.Tensor, grad_norm: torch.Tensor, name: str, step: int, checkpoint: Path
) -> None:
    """Stop before a non-finite update reaches the weights. The gradient norm is checked too:
    after DDP's all-reduce it is the same on every rank, so all ranks stop together."""
    # host sync: whether to apply the update must be known before it is applied
    if not bool(torch.isfinite(loss) & torch.isfinite(grad_norm)):
        raise TrainingDiverged(
            f"{name} loss is {loss.item()} (gradient norm {grad_norm.item()}) at step {step}; "
            "training "
            f"stopped and {_kept(checkpoint)} (try a lower learning rate, train.grad_clip, or a "
            "higher temperature.tau_min)"
        )


def _check_finite_weights(
    optimizer: torch.optim.Optimizer, name: str, step: int, checkpoint: Path
) -> None:
    """Stop when an update made a weight NaN or infinite (a finite loss and gradient can still
    give one, e.g. through a huge learning rate). One fused kernel and one sync: the L2 norm of
    each tensor, then their maximum, which is NaN or inf when a weight is (or when a weight is
    beyond ~1e19, whose square overflows: as diverged). The max-norm would be exact but is 10x
    slower on CPU."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    largest = torch.stack(torch._foreach_norm(params)).max()
    # host sync: to name the update that broke the weights, before the next step uses them
    if not bool(torch.isfinite(largest)):
        lrs = sorted({group["lr"] for group in optimizer.param_groups})
        raise TrainingDiverged(
            f"{name} weights became non-finite (norm {largest.item()}) in the update of step "
            f"{step} (learning rate {', '.join(map(str, lrs))}); training stopped and "
            f"{_kept(checkpoint)} (try a lower learning rate or train.grad_clip)"
        )


def _kept(checkpoint: Path) -> str:
    if checkpoint.exists():
        return f"the last good checkpoint is {checkpoint}"
    return "no checkpoint was written yet"


def ema_decay_at(decay: float, updates: int) -> float:
    """The decay of update number ``updates`` (0 for the first): ``min(decay, (1 + t) /
    (10 + t))``, so the average forgets the initial weights within the first steps instead of
    carrying them for ``1 / (1 - decay)`` steps (TensorFlow's ExponentialMovingAverage with
    ``num_updates``)."""
    return min(decay, (1 + updates) / (10 + updates))


@torch.no_grad()
def update_ema(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    r"""Move each parameter of ``average`` towards ``model``'s:
    :math:`\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta`."""
    for averaged, current in zip(average.parameters(), model.parameters(), strict=True):
        averaged.lerp_(current, 1.0 - decay)
