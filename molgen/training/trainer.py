"""The MolGAN training loop: n_critic WGAN-GP critic steps, then one generator step.

Plain and top to bottom on purpose. Everything random draws from RNGs whose states are saved in
the checkpoint, so N steps and N/2 steps + resume + N/2 steps give identical parameters on CPU.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from molgen.chem import Vocabulary
from molgen.config import Config, to_yaml
from molgen.data import load_dataset
from molgen.gan import (
    compile_critic_objective,
    critic_loss,
    critic_objective,
    generator_loss,
    reward_loss,
)
from molgen.metrics import TABLE_COLUMNS, Reference, evaluate
from molgen.models import Discriminator, Generator, RewardNetwork
from molgen.nn.schedules import make_schedule
from molgen.tracking import open_tracker
from molgen.training import distributed
from molgen.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from molgen.training.rewards import molecule_rewards
from molgen.training.sampling import generate_smiles, resolve_device

__all__ = ["TRAIN_METRICS", "TrainingDiverged", "train"]

log = logging.getLogger(__name__)

#: Metrics computed at every evaluation during training (the cheap part of molgen.metrics).
TRAIN_METRICS = ("validity", "validity_relaxed", "uniqueness", "novelty", "qed", "logp", "sa")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is left untouched."""


class _StopOnInterrupt:
    """First Ctrl-C asks the loop to stop after the current step (then it saves); a second one
    interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopOnInterrupt:
        with contextlib.suppress(ValueError):  # not in the main thread: no handler
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("interrupt: finishing this step, saving a checkpoint, then stopping")

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _one_hot_batch(
    x: torch.Tensor, adj: torch.Tensor, vocab: Vocabulary, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer graphs (uint8 [B, N], [B, N, N]) -> one-hot float [B, N, A], [B, N, N, R]."""
    x = F.one_hot(x.to(device).long(), vocab.num_atom_types).float()
    adj = F.one_hot(adj.to(device).long(), vocab.num_bond_types).float()
    return x, adj


def _check_finite(
    loss: torch.Tensor, grad_norm: float, name: str, step: int, checkpoint: Path
) -> None:
    """Stop before a non-finite update reaches the weights. The gradient norm is checked too:
    after DDP's all-reduce it is the same on every rank, so all ranks stop together."""
    if not (torch.isfinite(loss) and math.isfinite(grad_norm)):
        kept = (
            f"the last good checkpoint is {checkpoint}"
            if checkpoint.exists()
            else "no checkpoint was written yet"
        )
        raise TrainingDiverged(
            f"{name} loss is {loss.item()} (gradient norm {grad_norm}) at step {step}; training "
            f"stopped and {kept} (try a lower learning rate, train.grad_clip, or a higher "
            "temperature.tau_min)"
        )


#: Config parts that define the saved state; a resumed run must not change them.
_STATE_DEFINING = ("seed", "data", "generator", "discriminator", "reward", "gan", "temperature")


def _check_resumable(cfg: Config, saved: Config, checkpoint: Path) -> None:
    changed = [key for key in _STATE_DEFINING if getattr(cfg, key) != getattr(saved, key)]
    changed += [
        f"train.{k}"
        for k in ("batch_size", "lr_generator", "lr_discriminator", "betas")
        if getattr(cfg.train, k) != getattr(saved.train, k)
    ]
    if changed:
        raise ValueError(
            f"cannot resume {checkpoint}: the config differs from the run's in "
            f"{', '.join(changed)} (resume with the run's config.yaml; only train.steps and the "
            "evaluation, checkpoint and logging settings may change)"
        )


def _update(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    module: torch.nn.Module,
    max_norm: float | None,
    name: str,
    step: int,
    checkpoint: Path,
) -> float:
    """Backpropagate ``loss``, clip (if configured), refuse non-finite updates, step; returns
    the gradient norm for logging."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = float(
        torch.nn.utils.clip_grad_norm_(
            module.parameters(), max_norm if max_norm is not None else float("inf")
        )
    )
    _check_finite(loss, grad_norm, name, step, checkpoint)
    optimizer.step()
    return grad_norm


def _check_cpp_compiler() -> None:
    """torch.compile's CPU backend builds C++: say so before training rather than mid-step."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler  # private, may move
    except ImportError:
        return  # then torch.compile reports a missing compiler itself
    try:
        get_cpp_compiler()
    except Exception as error:
        raise ValueError(
            f"train.compile on CPU needs a C++ compiler for torch.compile ({error}); "
            "install g++ or set CXX, or set train.compile=false"
        ) from error


def _compiled_critic_objective(
    cfg: Config,
    ctx: distributed.Distributed,
    critic: torch.nn.Module,
    vocab: Vocabulary,
    device: torch.device,
    autocast: torch.autocast,
) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """:func:`critic_objective` compiled whole, penalty included, and compiled now (forward and
    backward, on a batch of empty graphs) rather than inside the first timed step."""
    if ctx.world_size > 1:
        raise ValueError(
            "train.compile is for single-process runs: compiling the critic step through "
            "DistributedDataParallel is not supported; set train.compile=false under torchrun"
        )
    if device.type == "cpu":
        _check_cpp_compiler()
    objective = compile_critic_objective()
    batch, nodes = cfg.train.batch_size, vocab.max_atoms
    x = torch.zeros(batch, nodes, vocab.num_atom_types, device=device)
    adj = torch.zeros(batch, nodes, nodes, vocab.num_bond_types, device=device)
    epsilon = torch.zeros(batch // cfg.gan.pack, device=device) if cfg.gan.gp_weight else None
    # Restoring the RNGs keeps the run's draws (dropout) those of an uncompiled run's.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), autocast:
        # Distinct real and fake tensors: aliased ones would compile a graph that the
        # first real step cannot reuse.
        fake = (x.clone(), adj.clone())
        loss, _ = objective(critic, (x, adj), fake, epsilon, cfg.gan.gp_weight)
        torch.autograd.grad(loss, list(critic.parameters()))
    return objective


def train(
    cfg: Config, run_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> dict[str, float]:
    """Train MolGAN as configured, writing everything to ``run_dir``; returns the last metrics.

    ``run_dir`` receives ``checkpoint.pt`` (atomic, every ``train.checkpoint_every`` steps and at
    the end), ``config.yaml``, ``train.smi`` (the reference for novelty), ``metrics.jsonl``, eval
    tables and molecule grids, ``curves.png`` and the offline W&B run.

    Under ``torchrun`` the run is data-parallel (DistributedDataParallel; gloo on CPU, NCCL on
    CUDA): each rank draws its own noise and real batches of ``train.batch_size`` graphs,
    gradients are averaged, and rank 0 alone evaluates, logs and writes checkpoints.
    """
    run_dir = Path(run_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    state = load_checkpoint(checkpoint_path) if resume else None
    if state is None and checkpoint_path.exists():
        raise FileExistsError(
            f"{run_dir} already holds a run: resume it with --resume or pick another --out"
        )
    if state is not None:
        _check_resumable(cfg, Config.model_validate(state["config"]), checkpoint_path)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    ctx, device = distributed.setup(resolve_device(cfg.train.device))
    try:
        return _train(cfg, run_dir, state, ctx, device, progress)
    finally:
        distributed.teardown(ctx)


def _train(
    cfg: Config,
    run_dir: Path,
    state: dict[str, Any] | None,
    ctx: distributed.Distributed,
    device: torch.device,
    progress: bool,
) -> dict[str, float]:
    checkpoint_path = run_dir / CHECKPOINT_NAME
    amp = cfg.train.amp and device.type == "cuda"
    if cfg.train.amp and not amp:
        log.warning("train.amp is only used on CUDA; training in float32 on %s", device)
    if state is not None and len(state["rng"]) != ctx.world_size:
        raise ValueError(
            f"{checkpoint_path} was written by a run of {len(state['rng'])} processes; "
            f"resume it with the same number (this run has {ctx.world_size})"
        )

    # Rank 0 builds the processed-data cache; the others then read it.
    if not ctx.is_main:
        ctx.barrier()
    dataset = load_dataset(cfg.data)
    if ctx.is_main:
        ctx.barrier()
    vocab = dataset.vocab
    if state is not None and state["vocab"] != vocab.to_dict():
        raise ValueError(
            f"{checkpoint_path}: the data's vocabulary differs from the checkpoint's "
            "(was the data changed?)"
        )
    n_nodes, n_atom_types, n_bond_types = (
        vocab.max_atoms,
        vocab.num_atom_types,
        vocab.num_bond_types,
    )

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    generator = Generator(cfg.generator, n_nodes, n_atom_types, n_bond_types).to(device)
    critic = Discriminator(
        cfg.discriminator,
        n_atom_types,
        n_bond_types,
        pack=cfg.gan.pack,
        minibatch_std=cfg.gan.minibatch_std,
    ).to(device)
    reward_net = None
    if cfg.gan.rl_weight > 0:
        reward_net = RewardNetwork(cfg.discriminator, n_atom_types, n_bond_types).to(device)
    # Fused Adam: one kernel per step, not one per tensor and operation (much faster on CPU).
    opt_g = torch.optim.Adam(
        generator.parameters(), lr=cfg.train.lr_generator, betas=cfg.train.betas, fused=True
    )
    opt_d = torch.optim.Adam(
        critic.parameters(), lr=cfg.train.lr_discriminator, betas=cfg.train.betas, fused=True
    )
    opt_r = (
        torch.optim.Adam(reward_net.parameters(), lr=cfg.reward.lr, fused=True)
        if reward_net
        else None
    )
    schedule = make_schedule(
        **{
            **cfg.temperature.model_dump(),
            "total_steps": cfg.temperature.total_steps or cfg.train.steps,
        }
    )
    # Every rank draws different noise and data; rank 0 of a distributed run draws what a
    # single-process run draws.
    rank_seed = cfg.seed + 1_000_003 * ctx.rank
    torch.manual_seed(rank_seed)  # dropout, gradient-penalty interpolation
    noise_rng = torch.Generator(device).manual_seed(rank_seed)
    data_rng = torch.Generator().manual_seed(rank_seed + 1)

    step = 0
    if state is not None:
        generator.load_state_dict(state["generator"])
        critic.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_generator"])
        opt_d.load_state_dict(state["opt_discriminator"])
        if reward_net is not None:
            reward_net.load_state_dict(state["reward"])
            opt_r.load_state_dict(state["opt_reward"])
        schedule.load_state_dict(state["schedule"])
        rng = state["rng"][ctx.rank]
        torch.set_rng_state(rng["torch"])
        noise_rng.set_state(rng["noise"])
        data_rng.set_state(rng["data"])
        step = int(state["step"])
        log.info("resumed %s at step %d", run_dir, step)
    elif ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(to_yaml(cfg))
        (run_dir / "train.smi").write_text("\n".join(dataset.train.smiles) + "\n")
        (run_dir / "data.json").write_text(json.dumps(dataset.info, indent=2))

    # DDP wrappers average gradients across ranks; with one process they are the modules.
    # The critic is wrapped for its own step only: in the generator step its gradients are unused.
    generator_dp, critic_dp = ctx.wrap(generator), ctx.wrap(critic)
    reward_dp = ctx.wrap(reward_net) if reward_net is not None else None

    def save(tau: float) -> None:
        rng_states = ctx.gather(
            {
                "torch": torch.get_rng_state(),
                "noise": noise_rng.get_state(),
                "data": data_rng.get_state(),
            }
        )
        if not ctx.is_main:
            return
        save_checkpoint(
            {
                "step": step,
                "tau": tau,
                "config": cfg.model_dump(mode="json"),
                "vocab": vocab.to_dict(),
                "data_info": dataset.info,
                "train_smiles": dataset.train.smiles,
                "generator": generator.state_dict(),
                "discriminator": critic.state_dict(),
                "reward": reward_net.state_dict() if reward_net is not None else None,
                "opt_generator": opt_g.state_dict(),
                "opt_discriminator": opt_d.state_dict(),
                "opt_reward": opt_r.state_dict() if opt_r is not None else None,
                "schedule": schedule.state_dict(),
                "rng": rng_states,  # one entry per rank
            },
            checkpoint_path,
        )

    train_x, train_adj = dataset.train.x, dataset.train.adj  # uint8 [M, N], [M, N, N], on CPU
    batch_size, n_critic = cfg.train.batch_size, cfg.gan.n_critic
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)

    def real_batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(train_x), (batch_size,), generator=data_rng)
        return _one_hot_batch(
            train_x[idx], train_adj[idx], vocab, device
        )  # [B, N, A], [B, N, N, R]

    tracker, reference = None, None
    if ctx.is_main:
        reference = Reference.from_smiles(dataset.train.smiles, cache_dir=cfg.data.cache_dir)
        tracker = open_tracker(
            run_dir, cfg.model_dump(mode="json"), wandb=cfg.logging.wandb, name=cfg.name
        )
    metrics: dict[str, float] = {}
    timer = {"critic": 0.0, "generator": 0.0, "eval": 0.0}
    objective_d = critic_objective
    if cfg.train.compile:
        log.info("compiling the critic step (train.compile)")
        t0 = time.perf_counter()
        objective_d = _compiled_critic_objective(cfg, ctx, critic, vocab, device, autocast)
        timer["compile"] = time.perf_counter() - t0
    bar = tqdm(
        total=cfg.train.steps,
        initial=step,
        disable=not (progress and ctx.is_main),
        desc=cfg.name,
        dynamic_ncols=True,
    )
    started = time.perf_counter()
    try:
        with _StopOnInterrupt() as interrupt:
            while step < cfg.train.steps:
                tau = schedule(step)

                # ---- critic: n_critic WGAN-GP updates on fresh real and fake batches
                t0 = time.perf_counter()
                for _ in range(n_critic):
                    real = real_batch()
                    with torch.no_grad(), autocast:
                        z = generator.sample_noise(
                            batch_size, generator=noise_rng, device=device
                        )  # [B, Z]
                        fake = generator(z, tau, generator=noise_rng)  # [B, N, A], [B, N, N, R]
                    with autocast:
                        loss_d, stats_d = critic_loss(
                            critic_dp, real, fake, cfg.gan.gp_weight, objective=objective_d
                        )
                    grad_norm_d = _update(
                        loss_d, opt_d, critic, cfg.train.grad_clip, "critic", step, checkpoint_path
                    )
                t1 = time.perf_counter()

                # ---- reward network (RL only): fit RDKit's reward of real and generated graphs
                z = generator.sample_noise(batch_size, generator=noise_rng, device=device)
                with autocast:
                    fake, atom_logits, bond_logits = generator_dp(
                        z, tau, generator=noise_rng, return_logits=True
                    )
                stats_r: dict[str, float] = {}
                if reward_net is not None:
                    real = real_batch()
                    graphs = tuple(
                        torch.cat([r, f.detach()]) for r, f in zip(real, fake, strict=True)
                    )
                    target = molecule_rewards(graphs, vocab, cfg.reward.objectives).to(
                        device
                    )  # [2B]
                    loss_r = reward_loss(reward_dp, graphs, target)
                    _update(loss_r, opt_r, reward_net, None, "reward", step, checkpoint_path)
                    stats_r = {
                        "reward_loss": loss_r.item(),
                        "reward_rdkit_fake": target[batch_size:].mean().item(),
                    }

                # ---- generator: adversarial (+ RL, + diversity) update
                with autocast:
                    loss_g, stats_g = generator_loss(
                        critic,
                        fake,
                        reward_net=reward_net,
                        rl_weight=cfg.gan.rl_weight if step >= cfg.gan.rl_start else 0.0,
                        diversity_weight=cfg.gan.diversity_weight,
                        z=z,
                        # Probabilities, not samples: identical one-hots give no gradient.
                        diversity_inputs=(atom_logits.softmax(-1), bond_logits.softmax(-1))
                        if cfg.gan.diversity_weight > 0
                        else None,
                    )
                grad_norm_g = _update(
                    loss_g,
                    opt_g,
                    generator,
                    cfg.train.grad_clip,
                    "generator",
                    step,
                    checkpoint_path,
                )
                t2 = time.perf_counter()
                timer["critic"] += t1 - t0
                timer["generator"] += t2 - t1

                step += 1
                bar.update(1)
                out_of_time = (
                    cfg.train.max_minutes is not None
                    and time.perf_counter() - started > 60 * cfg.train.max_minutes
                )
                stop = ctx.any(
                    interrupt.requested or out_of_time
                )  # every rank stops at the same step
                if tracker is not None and (
                    step % cfg.train.eval_every == 0 or step == cfg.train.steps
                ):
                    t3 = time.perf_counter()
                    metrics = evaluate_during_training(
                        generator, vocab, reference, tracker, cfg, step, tau, run_dir
                    )
                    timer["eval"] += time.perf_counter() - t3
                    bar.write(
                        f"step {step}: " + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items())
                    )

                if tracker is not None and (
                    step % cfg.logging.log_every == 0 or step == cfg.train.steps
                ):
                    scalars = {
                        f"train/{k}": v for k, v in {**stats_d, **stats_g, **stats_r}.items()
                    }
                    scalars |= {
                        "tau": tau,
                        "grad_norm/critic": grad_norm_d,
                        "grad_norm/generator": grad_norm_g,
                    }
                    scalars |= {
                        "lr/generator": opt_g.param_groups[0]["lr"],
                        "lr/critic": opt_d.param_groups[0]["lr"],
                    }
                    scalars |= {f"time/{k}_s": v for k, v in timer.items()}
                    tracker.log(scalars, step)
                    bar.set_postfix(
                        loss_d=f"{loss_d.item():.3f}",
                        loss_g=f"{loss_g.item():.3f}",
                        tau=f"{tau:.3f}",
                    )

                if step % cfg.train.checkpoint_every == 0 or step == cfg.train.steps or stop:
                    save(schedule(step))
                if stop:
                    log.warning("stopped at step %d; resume with --resume %s", step, run_dir)
                    break

        if ctx.enabled:  # replicas must be identical; a difference means broken synchronisation
            divergence = max(ctx.max_divergence(generator), ctx.max_divergence(critic))
            if tracker is not None:
                tracker.log(
                    {
                        "distributed/max_param_divergence": divergence,
                        "distributed/world_size": ctx.world_size,
                    },
                    step,
                )
        if tracker is not None:
            from molgen.training.curves import plot_training_curves

            plot_training_curves(run_dir / "metrics.jsonl", run_dir / "curves.png")
            if step >= cfg.train.steps:
                tracker.log_artifact(checkpoint_path, name=f"{cfg.name}-generator", type="model")
    finally:
        bar.close()
        if tracker is not None:
            tracker.finish()
    return metrics


def evaluate_during_training(
    generator: Generator,
    vocab: Vocabulary,
    reference: Reference,
    tracker: Any,
    cfg: Config,
    step: int,
    tau: float,
    run_dir: Path,
) -> dict[str, float]:
    """Sample ``train.n_eval`` graphs, score them with molgen.metrics, log scalars, a table and a grid."""
    from molgen.chem.draw import draw_grid

    smiles = [
        s
        for batch in generate_smiles(
            generator, vocab, cfg.train.n_eval, tau=tau, seed=cfg.seed + step
        )
        for s in batch
    ]
    evaluation = evaluate(smiles, reference, metrics=TRAIN_METRICS)
    metrics = evaluation.metrics
    tracker.log({f"eval/{k}": v for k, v in metrics.items()}, step)
    tracker.log_table(
        "eval/samples", list(TABLE_COLUMNS), [list(r) for r in evaluation.table[:64]], step
    )
    drawable = [s for s in smiles if s][:32]
    if drawable:  # an early generator may produce nothing RDKit can draw
        grid = draw_grid(drawable, run_dir / "samples" / f"step{step:07d}.png")
        tracker.log_image("eval/molecules", grid, step)
    return metrics
