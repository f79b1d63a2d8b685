"""The MolGAN training loop: n_critic WGAN-GP critic steps, then one generator step.

:func:`train` takes the run folder (:mod:`molgen.training.run`: its lock, its checkpoint, the
checks before resuming), :func:`_start` builds or restores the state, and :func:`_loop` is the
loop: each step it calls :func:`real_batch` and :func:`critic_step` ``gan.n_critic`` times,
then :func:`generate`, :func:`reward_step` (with RL), :func:`generator_step` and
:func:`update_ema`, and at their intervals :func:`evaluate_during_training`, :func:`log_step`
and :func:`save`. :class:`TrainState` is everything a checkpoint holds (its ``state_dict``
writes :data:`~molgen.training.run.CHECKPOINT_ENTRIES`); :class:`Runtime` is how this process
runs the steps (devices, precision, DDP views, the critic objective). Everything random draws
from RNGs whose states are saved in the checkpoint, so N steps and N/2 steps + resume + N/2
steps give identical parameters on CPU.

The steps keep their numbers on the device where they can (gradient norms are read when
logged); each place where the host waits for the device is marked "host sync", with the reason.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from molgen.chem import Vocabulary, bond_orders
from molgen.config import Config
from molgen.data import MolDataset, load_dataset
from molgen.errors import InputError, Interrupted
from molgen.gan import (
    compile_critic_objective,
    critic_loss,
    critic_objective,
    generator_loss,
    reward_loss,
)
from molgen.io import lock_folder, remove_stale_temporaries
from molgen.metrics import TABLE_COLUMNS, Reference, evaluate
from molgen.models import Discriminator, Generator, RewardNetwork
from molgen.nn.schedules import TemperatureSchedule, make_schedule
from molgen.tracking import Tracker, check_wandb_reachable, open_tracker
from molgen.training import distributed
from molgen.training.constraints import constraint_report
from molgen.training.rewards import molecule_rewards
from molgen.training.run import (
    CHECKPOINT_NAME,
    CheckpointError,
    build_generator,
    check_resume,
    check_resume_data,
    find_checkpoint,
    is_run,
    load_checkpoint,
    load_part,
    save_checkpoint,
    training_set_record,
    write_run_files,
    written_by,
)
from molgen.training.sampling import generate_smiles

__all__ = [
    "TRAIN_METRICS",
    "Fake",
    "Runtime",
    "TrainState",
    "TrainingDiverged",
    "Update",
    "critic_step",
    "ema_decay_at",
    "generate",
    "generator_step",
    "init_state",
    "log_step",
    "real_batch",
    "reward_step",
    "save",
    "train",
    "update_ema",
]

log = logging.getLogger(__name__)

Graph = tuple[torch.Tensor, torch.Tensor]  # one-hot atoms [B, N, A], bonds [B, N, N, R]


#: Metrics computed at every evaluation during training (the cheap part of molgen.metrics).
TRAIN_METRICS = ("validity", "validity_relaxed", "uniqueness", "novelty", "qed", "logp", "sa")


def train(
    cfg: Config, run_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> dict[str, float]:
    """Train MolGAN as configured, writing everything to ``run_dir``; returns the last metrics.

    ``run_dir`` becomes a run folder (:mod:`molgen.training.run`): ``checkpoint.pt`` (atomic,
    every ``train.checkpoint_every`` steps and at the end), ``config.yaml``, ``data.json``,
    the splits (``train.smi``, the reference for novelty, ``val.smi`` and ``test.smi``),
    ``metrics.jsonl``, eval tables and molecule grids, ``curves.png`` and the offline W&B run.
    ``resume=True`` continues the run in ``run_dir`` (:func:`~molgen.training.run.check_resume`
    says what may change).

    Under ``torchrun`` the run is data-parallel (DistributedDataParallel; gloo on CPU, NCCL on
    CUDA): each rank draws its own noise and real batches of ``train.batch_size`` graphs,
    gradients are averaged, and rank 0 alone evaluates, logs and writes checkpoints.
    """
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT_NAME
    if resume:
        find_checkpoint(checkpoint)  # before the lock creates the folder
    # One process at a time trains into a folder (rank 0 of a torchrun job holds the lock for
    # its ranks); the lock goes with the process, however it ends.
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main:  # W&B online without network: fail now, not after W&B's retries
        check_wandb_reachable(cfg.logging.wandb)
    with lock_folder(run_dir) if is_main else contextlib.nullcontext():
        if is_main:  # what an atomic write killed mid-way left behind
            for tmp in remove_stale_temporaries(run_dir):
                log.warning("removed %s, left by an interrupted write", tmp)
        saved = load_checkpoint(checkpoint) if resume else None
        if saved is None and is_run(run_dir):
            raise FileExistsError(
                f"{run_dir} already holds a run: resume it with --resume or pick another --out"
            )
        if saved is not None:
            check_resume(saved, checkpoint, cfg, world_size=distributed.world_size())
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        ctx, device = distributed.setup(distributed.resolve_device(cfg.train.device))
        try:
            return _loop(_start(cfg, run_dir, saved, ctx, device), ctx, device, run_dir, progress)
        finally:
            distributed.teardown(ctx)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is left untouched."""


def _start(
    cfg: Config,
    run_dir: Path,
    saved: dict[str, Any] | None,
    ctx: distributed.Distributed,
    device: torch.device,
) -> TrainState:
    """Load the data, then build a fresh state (and write the run's files) or resume ``saved``."""
    checkpoint = run_dir / CHECKPOINT_NAME
    if cfg.train.amp and device.type != "cuda":
        log.warning("train.amp is only used on CUDA; training in float32 on %s", device)
    # Rank 0 builds the processed-data cache; the others then read it.
    if not ctx.is_main:
        ctx.barrier()
    dataset = load_dataset(cfg.data)
    if ctx.is_main:
        ctx.barrier()
    # Batches are drawn with replacement, so a larger one would run, repeating molecules in
    # every batch; a huge one exhausted the memory before the first step, without a word.
    if cfg.train.batch_size > len(dataset.train.smiles):
        raise InputError(
            f"train.batch_size={cfg.train.batch_size} is larger than the training split "
            f"({len(dataset.train.smiles)} molecules): lower train.batch_size"
        )
    state = init_state(cfg, dataset, device, ctx.rank)
    if saved is not None:
        check_resume_data(saved, checkpoint, state.vocab, state.train_set)
        try:
            state.load_state_dict(saved, ctx.rank)
        except CheckpointError as exc:  # a part's tensors: named by load_part
            raise CheckpointError(f"{checkpoint}: {exc}") from exc
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # the RNG states, step
            raise CheckpointError(
                f"{checkpoint}: its RNG states cannot be restored ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}) ({written_by(saved)})"
            ) from exc
        log.info("resumed %s at step %d", run_dir, state.step)
    elif ctx.is_main:
        write_run_files(run_dir, cfg, dataset)
    return state


def _loop(
    state: TrainState,
    ctx: distributed.Distributed,
    device: torch.device,
    run_dir: Path,
    progress: bool,
) -> dict[str, float]:
    """Train from ``state.step`` to ``train.steps``; rank 0 evaluates, logs and saves."""
    cfg = state.cfg
    # The DDP views live in this call only: they must be gone before the process group is
    # destroyed, or gloo's teardown can deadlock waiting on their pending callbacks.
    rt = Runtime.create(state, ctx, device, run_dir / CHECKPOINT_NAME)
    timer = {"critic": 0.0, "generator": 0.0, "eval": 0.0}  # cumulative seconds, logged
    if rt.compile_s is not None:
        timer["compile"] = rt.compile_s
    tracker, reference, metrics = None, None, {}
    if ctx.is_main:
        # The data's SMILES are canonical already: novelty needs no RDKit pass over them.
        reference = Reference.from_canonical(
            state.dataset.train.smiles, cache_dir=cfg.data.cache_dir
        )
        tracker = open_tracker(
            run_dir, cfg.model_dump(mode="json"), wandb=cfg.logging.wandb, name=cfg.name
        )
    bar = tqdm(
        total=cfg.train.steps,
        initial=state.step,
        disable=not (progress and ctx.is_main),
        desc=cfg.name,
        dynamic_ncols=True,
    )
    started = time.perf_counter()
    try:
        with _StopOnInterrupt() as interrupt:
            while state.step < cfg.train.steps:
                tau = state.schedule(state.step)
                t0 = time.perf_counter()
                for _ in range(cfg.gan.n_critic):
                    real = real_batch(state, rt)  # [B, N, A], [B, N, N, R]
                    critic = critic_step(state, rt, real, tau)
                t1 = time.perf_counter()
                fake = generate(state, rt, tau)  # z [B, Z], graphs and logits as real's
                reward = {}
                if state.reward_net is not None:  # RL: fit RDKit's rewards of real and fake
                    reward = reward_step(state, rt, real_batch(state, rt), fake)
                generator = generator_step(state, rt, fake)
                if state.generator_ema is not None:
                    decay = ema_decay_at(cfg.train.ema_decay, state.step)
                    update_ema(state.generator_ema, state.generator, decay)
                timer["critic"] += t1 - t0
                timer["generator"] += time.perf_counter() - t1

                state.step += 1
                bar.update(1)
                last = state.step == cfg.train.steps
                out_of_time = (
                    cfg.train.max_minutes is not None
                    and time.perf_counter() - started > 60 * cfg.train.max_minutes
                )
                # host sync under torchrun only: every rank must stop at the same step
                stop = ctx.any(interrupt.requested or out_of_time)
                if tracker is not None and (state.step % cfg.train.eval_every == 0 or last):
                    t0 = time.perf_counter()
                    metrics = evaluate_during_training(state, reference, tracker, run_dir)
                    timer["eval"] += time.perf_counter() - t0
                    bar.write(
                        f"step {state.step}: "
                        + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items())
                    )
                if tracker is not None and (state.step % cfg.logging.log_every == 0 or last):
                    log_step(tracker, state, tau, critic, generator, reward, timer)
                    bar.set_postfix(
                        loss_d=f"{critic.stats['critic_loss']:.3f}",
                        loss_g=f"{generator.stats['generator_loss']:.3f}",
                        tau=f"{tau:.3f}",
                    )
                if state.step % cfg.train.checkpoint_every == 0 or last or stop:
                    save(state, ctx, rt.checkpoint)
                if stop:
                    log.warning("stopped at step %d; resume with --resume %s", state.step, run_dir)
                    break
        _finish(state, ctx, tracker, run_dir)
        if interrupt.signum is not None:  # saved and finished: now say the run was cut short
            raise Interrupted(
                interrupt.signum,
                f"{signal.Signals(interrupt.signum).name}: stopped at step {state.step} of "
                f"{cfg.train.steps}; {rt.checkpoint} is saved: continue with --resume {run_dir}",
            )
    finally:
        bar.close()
        if tracker is not None:
            tracker.finish()
    return metrics


def _finish(
    state: TrainState, ctx: distributed.Distributed, tracker: Tracker | None, run_dir: Path
) -> None:
    """Check the replicas agree (distributed), draw the curves, log the final checkpoint."""
    if ctx.enabled:  # replicas must be identical; a difference means broken synchronisation
        divergence = max(ctx.max_divergence(state.generator), ctx.max_divergence(state.critic))
        if tracker is not None:
            tracker.log(
                {
                    "distributed/max_param_divergence": divergence,
                    "distributed/world_size": ctx.world_size,
                },
                state.step,
            )
    if tracker is not None:
        from molgen.training.curves import plot_training_curves

        plot_training_curves(run_dir / "metrics.jsonl", run_dir / "curves.png")
        if state.step >= state.cfg.train.steps:
            tracker.log_artifact(
                run_dir / CHECKPOINT_NAME, name=f"{state.cfg.name}-generator", type="model"
            )


def evaluate_during_training(
    state: TrainState, reference: Reference, tracker: Tracker, run_dir: Path
) -> dict[str, float]:
    """Sample ``train.n_eval`` graphs, score them with molgen.metrics, log scalars, a table and
    a grid."""
    from molgen.chem.draw import draw_grid

    cfg, step = state.cfg, state.step
    smiles = [
        s
        for batch in generate_smiles(
            state.sampler, state.vocab, cfg.train.n_eval, seed=cfg.seed + step
        )
        for s in batch
    ]
    evaluation = evaluate(smiles, reference, metrics=TRAIN_METRICS)
    # What the validity owes to the sampler's constraints, on the same noise.
    metrics = evaluation.metrics | constraint_report(
        state.sampler, state.vocab, smiles, seed=cfg.seed + step
    )
    tracker.log({f"eval/{k}": v for k, v in metrics.items()}, step)
    tracker.log_table(
        "eval/samples", list(TABLE_COLUMNS), [list(r) for r in evaluation.table[:64]], step
    )
    drawable = [s for s in smiles if s][:32]
    if drawable:  # an early generator may produce nothing RDKit can draw
        grid = draw_grid(drawable, run_dir / "samples" / f"step{step:07d}.png")
        tracker.log_image("eval/molecules", grid, step)
    return metrics


def save(state: TrainState, ctx: distributed.Distributed, checkpoint: Path) -> None:
    """Write the checkpoint (collective: every rank calls it; rank 0 writes)."""
    state_dict = state.state_dict(ctx)
    if ctx.is_main:
        save_checkpoint(state_dict, checkpoint)


@dataclass
class TrainState:
    """Everything training changes, and what the run is: one checkpoint's worth of state.

    :meth:`state_dict` writes, and :meth:`load_state_dict` reads, the entries of
    :data:`~molgen.training.run.CHECKPOINT_ENTRIES`. A part of the state that is off in this
    run (the reward network and its optimiser without RL) is saved as ``None``. A new stateful
    part (e.g. averaged generator weights) is a field here, a line in :attr:`STATEFUL` and an
    entry there.
    """

    cfg: Config
    dataset: MolDataset  # the run's data: vocabulary, info, and the training graphs and SMILES
    generator: Generator
    critic: Discriminator
    reward_net: RewardNetwork | None
    opt_generator: torch.optim.Optimizer
    opt_critic: torch.optim.Optimizer
    opt_reward: torch.optim.Optimizer | None
    schedule: TemperatureSchedule
    noise_rng: torch.Generator  # latent noise and Gumbel draws
    data_rng: torch.Generator  # which real graphs each batch holds
    step: int = 0  # generator steps done
    generator_ema: Generator | None = None  # averaged weights (train.ema_decay), for sampling

    #: Checkpoint key -> the attribute whose ``state_dict()`` it holds.
    STATEFUL: ClassVar[dict[str, str]] = {
        "generator": "generator",
        "discriminator": "critic",
        "reward": "reward_net",
        "opt_generator": "opt_generator",
        "opt_discriminator": "opt_critic",
        "opt_reward": "opt_reward",
        "schedule": "schedule",
        "generator_ema": "generator_ema",
    }

    @property
    def vocab(self) -> Vocabulary:
        return self.dataset.vocab

    @functools.cached_property
    def train_set(self) -> dict[str, Any]:
        """The checkpoint's record of the training molecules (hashed once, not at every save)."""
        return training_set_record(self.dataset.train.smiles)

    @property
    def sampler(self) -> Generator:
        """The generator to evaluate and sample: the averaged one when there is one."""
        return self.generator if self.generator_ema is None else self.generator_ema

    def state_dict(self, ctx: distributed.Distributed | None = None) -> dict[str, Any]:
        """The checkpoint. Under ``torchrun`` every rank must call it: it gathers each rank's
        RNG states (torch's global one, noise, data), saved as one entry per rank."""
        rng = (ctx or distributed.Distributed()).gather(
            {
                "torch": torch.get_rng_state(),
                "noise": self.noise_rng.get_state(),
                "data": self.data_rng.get_state(),
            }
        )
        parts = {
            key: None if (part := getattr(self, attr)) is None else part.state_dict()
            for key, attr in self.STATEFUL.items()
        }
        return {
            "step": self.step,
            "tau": self.schedule(self.step),
            "config": self.cfg.model_dump(mode="json"),
            "vocab": self.vocab.to_dict(),
            "data_info": self.dataset.info,
            "train_set": self.train_set,  # the molecules are in train.smi beside it
            **parts,
            "rng": rng,
        }

    def load_state_dict(self, state: dict[str, Any], rank: int = 0) -> None:
        """Continue from a checkpoint of :meth:`state_dict`, with rank ``rank``'s RNG states
        (the config, vocabulary and data are this run's, checked by :func:`train`)."""
        for key, attr in self.STATEFUL.items():
            if (part := getattr(self, attr)) is not None:
                load_part(part, state, key)  # names the tensor whose shape or dtype differs
        rng = state["rng"][rank]
        torch.set_rng_state(rng["torch"])
        self.noise_rng.set_state(rng["noise"])
        self.data_rng.set_state(rng["data"])
        self.step = int(state["step"])


def init_state(cfg: Config, dataset: MolDataset, device: torch.device, rank: int = 0) -> TrainState:
    """A fresh run's state: weights from ``cfg.seed`` (the same on every rank), then this
    rank's RNGs (rank 0 draws what a single-process run draws)."""
    vocab = dataset.vocab
    n_atom_types, n_bond_types = vocab.num_atom_types, vocab.num_bond_types
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    generator = build_generator(cfg.generator, vocab).to(device)
    # What the structure features (discriminator.structure_features) need of the vocabulary.
    bond_classes = {
        "bond_orders": bond_orders(vocab),
        "aromatic_bond": (
            vocab.bond_types.index("AROMATIC") + 1 if "AROMATIC" in vocab.bond_types else None
        ),
    }
    critic = Discriminator(
        cfg.discriminator,
        n_atom_types,
        n_bond_types,
        pack=cfg.gan.pack,
        minibatch_std=cfg.gan.minibatch_std,
        **bond_classes,
    ).to(device)
    reward_net = None
    if cfg.gan.rl_weight > 0:
        reward_net = RewardNetwork(
            cfg.discriminator, n_atom_types, n_bond_types, **bond_classes
        ).to(device)
    # Fused Adam: one kernel per step, not one per tensor and operation (much faster on CPU).
    opt_generator = torch.optim.Adam(
        generator.parameters(), lr=cfg.train.lr_generator, betas=cfg.train.betas, fused=True
    )
    opt_critic = torch.optim.Adam(
        critic.parameters(), lr=cfg.train.lr_discriminator, betas=cfg.train.betas, fused=True
    )
    opt_reward = (
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
    generator_ema = None
    if cfg.train.ema_decay is not None:
        generator_ema = copy.deepcopy(generator).requires_grad_(False)
    # Every rank draws different noise and data.
    rank_seed = cfg.seed + 1_000_003 * rank
    torch.manual_seed(rank_seed)  # dropout, gradient-penalty interpolation
    return TrainState(
        cfg=cfg,
        dataset=dataset,
        generator=generator,
        critic=critic,
        reward_net=reward_net,
        opt_generator=opt_generator,
        opt_critic=opt_critic,
        opt_reward=opt_reward,
        schedule=schedule,
        noise_rng=torch.Generator(device).manual_seed(rank_seed),
        data_rng=torch.Generator().manual_seed(rank_seed + 1),
        generator_ema=generator_ema,
    )


@dataclass(frozen=True)
class Runtime:
    """How this process runs the steps; nothing here is saved. ``generator``, ``critic`` and
    ``reward_net`` are the DistributedDataParallel views of the state's modules (the modules
    themselves in one process): they average gradients across ranks."""

    device: torch.device
    autocast: torch.autocast
    generator: torch.nn.Module
    critic: torch.nn.Module  # for the critic's own step; the generator step uses the module
    reward_net: torch.nn.Module | None
    critic_objective: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    checkpoint: Path  # named when a loss diverges
    compile_s: float | None = None  # seconds spent compiling the critic objective

    @classmethod
    def create(
        cls,
        state: TrainState,
        ctx: distributed.Distributed,
        device: torch.device,
        checkpoint: Path,
    ) -> Runtime:
        """Wrap the modules for data parallelism; compile the critic objective if configured."""
        amp = state.cfg.train.amp and device.type == "cuda"
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)
        objective, compile_s = critic_objective, None
        if state.cfg.train.compile:
            log.info("compiling the critic step (train.compile)")
            started = time.perf_counter()
            objective = _compiled_critic_objective(
                state.cfg, ctx, state.critic, state.vocab, device, autocast
            )
            compile_s = time.perf_counter() - started
        return cls(
            device=device,
            autocast=autocast,
            generator=ctx.wrap(state.generator),
            critic=ctx.wrap(state.critic),
            reward_net=ctx.wrap(state.reward_net) if state.reward_net is not None else None,
            critic_objective=objective,
            checkpoint=checkpoint,
            compile_s=compile_s,
        )


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
        raise InputError(
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


def _check_cpp_compiler() -> None:
    """torch.compile's CPU backend builds C++: say so before training rather than mid-step."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler  # private, may move
    except ImportError:
        return  # then torch.compile reports a missing compiler itself
    try:
        get_cpp_compiler()
    except Exception as error:
        raise InputError(
            f"train.compile on CPU needs a C++ compiler for torch.compile ({error}); "
            "install g++ or set CXX, or set train.compile=false"
        ) from error


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
    """``train.batch_size`` training graphs drawn with ``state.data_rng``, one-hot."""
    train_x, train_adj = state.dataset.train.x, state.dataset.train.adj  # uint8 [M, N], [M, N, N]
    idx = torch.randint(len(train_x), (state.cfg.train.batch_size,), generator=state.data_rng)
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


def log_step(
    tracker: Tracker,
    state: TrainState,
    tau: float,
    critic: Update,
    generator: Update,
    reward: dict[str, float],
    timer: dict[str, float],
) -> None:
    """Log the step's losses, statistics, gradient norms, learning rates and timings."""
    scalars = {f"train/{k}": v for k, v in {**critic.stats, **generator.stats, **reward}.items()}
    scalars |= {
        "tau": tau,
        # host sync, at logging steps only: both norms in one transfer
        **dict(
            zip(
                ("grad_norm/critic", "grad_norm/generator"),
                torch.stack([critic.grad_norm, generator.grad_norm]).tolist(),
                strict=True,
            )
        ),
        "lr/generator": state.opt_generator.param_groups[0]["lr"],
        "lr/critic": state.opt_critic.param_groups[0]["lr"],
    }
    scalars |= {f"time/{k}_s": v for k, v in timer.items()}
    tracker.log(scalars, state.step)


class _StopOnInterrupt:
    """First Ctrl-C or SIGTERM (what schedulers send) asks the loop to stop after the current
    step (then it saves); a second one interrupts at once. ``signum`` is the first signal."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> _StopOnInterrupt:
        with contextlib.suppress(ValueError):  # not in the main thread: no handler
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise Interrupted(signum, f"{signal.Signals(signum).name} again: stopped at once")
        self.signum = signum
        log.warning(
            "%s: finishing this step, saving a checkpoint, then stopping",
            signal.Signals(signum).name,
        )

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
