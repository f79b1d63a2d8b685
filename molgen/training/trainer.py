"""The MolGAN training loop: n_critic WGAN-GP critic steps, then one generator step.

:func:`train` takes the run folder (:mod:`molgen.training.run`: its lock, its checkpoint, the
checks before resuming), :func:`_start` builds or restores the state
(:class:`~molgen.training.state.TrainState`), and :func:`_loop` is the loop: each step it calls
the step functions of :mod:`molgen.training.steps` (:func:`real_batch` and :func:`critic_step`
``gan.n_critic`` times, then :func:`generate`, :func:`reward_step` (with RL),
:func:`generator_step` and :func:`update_ema`) through a
:class:`~molgen.training.state.Runtime`, and at their intervals
:func:`evaluate_during_training`, :func:`log_step` and :func:`save`. Everything random draws
from RNGs whose states are saved in the checkpoint, so N steps and N/2 steps + resume + N/2
steps give identical parameters on CPU. Each place where the host waits for the device is
marked "host sync", with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from molgen.config import Config
from molgen.errors import InputError, Interrupted
from molgen.io import lock_folder, remove_stale_temporaries
from molgen.metrics.frechet import fcd_available
from molgen.tracking import Tracker, check_wandb_reachable, open_tracker
from molgen.training import distributed
from molgen.training.graphs import GraphReference, evaluate_graphs_during_training, load_graph_data
from molgen.training.run import (
    BEST_CHECKPOINT_NAME,
    CHECKPOINT_NAME,
    CheckpointError,
    check_resume,
    check_resume_data,
    find_checkpoint,
    is_run,
    load_checkpoint,
    save_checkpoint,
    write_run_files,
    written_by,
)
from molgen.training.sampling import generate_smiles
from molgen.training.state import Runtime, TrainState, init_state
from molgen.training.steps import (
    Update,
    critic_step,
    ema_decay_at,
    generate,
    generator_step,
    real_batch,
    reward_step,
    update_ema,
)

if TYPE_CHECKING:  # RDKit: imported where a molecule run needs it, never on graphs
    from molgen.metrics import Reference

__all__ = ["TRAIN_METRICS", "log_step", "record_best", "save", "train"]

log = logging.getLogger(__name__)


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
    says what may change). On graphs without chemistry (``data.kind: graphs``) the splits are
    ``train.g6``, ``val.g6`` and ``test.g6``, evaluations score the graph metrics against the
    validation graphs (:mod:`molgen.training.graphs`), and no RDKit is imported.

    Under ``torchrun`` the run is data-parallel (DistributedDataParallel; gloo on CPU, NCCL on
    CUDA): each rank draws its own noise and real batches of ``train.batch_size`` graphs,
    gradients are averaged, and rank 0 alone evaluates, logs and writes checkpoints.
    """
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT_NAME
    if cfg.train.keep_best == "fcd" and not fcd_available():  # now, not at the first evaluation
        raise InputError("train.keep_best=fcd needs the `fcd` package: pip install 'molgen[fcd]'")
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
    if cfg.data.graphs:
        dataset = load_graph_data(cfg.data)
    else:
        from molgen.data import load_molecule_dataset  # RDKit: molecule runs only

        dataset = load_molecule_dataset(cfg.data)
    if ctx.is_main:
        ctx.barrier()
    # Batches are drawn with replacement, so a larger one would run, repeating molecules in
    # every batch; a huge one exhausted the memory before the first step, without a word.
    if cfg.train.batch_size > len(dataset.train):
        items = "graphs" if cfg.data.graphs else "molecules"
        raise InputError(
            f"train.batch_size={cfg.train.batch_size} is larger than the training split "
            f"({len(dataset.train)} {items}): lower train.batch_size"
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
    tracker, reference, validation, metrics = None, None, None, {}
    if ctx.is_main and cfg.data.graphs:
        reference = GraphReference.of(state.dataset, cfg.data)
    elif ctx.is_main:
        from molgen.metrics import Reference  # RDKit: molecule runs only

        # The data's SMILES are canonical already: novelty needs no RDKit pass over them.
        reference = Reference.from_canonical(
            state.dataset.train.smiles, cache_dir=cfg.data.cache_dir
        )
        if cfg.train.keep_best == "fcd":
            validation = Reference.from_canonical(
                state.dataset.val.smiles, cache_dir=cfg.data.cache_dir
            )
    if ctx.is_main:
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
                evaluated = state.step % cfg.train.eval_every == 0 or last
                if tracker is not None and evaluated:
                    t0 = time.perf_counter()
                    # Evaluating never moves training's draws (building ChemNet draws its
                    # initial weights from torch's global RNG).
                    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                        metrics = evaluate_during_training(
                            state, reference, tracker, run_dir, validation
                        )
                    timer["eval"] += time.perf_counter() - t0
                    bar.write(
                        f"step {state.step}: "
                        + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items())
                    )
                if cfg.train.keep_best is not None and evaluated:
                    improved = tracker is not None and record_best(state, metrics, tracker)
                    if ctx.any(improved):  # collective: every rank gathers, rank 0 writes
                        save(state, ctx, run_dir / BEST_CHECKPOINT_NAME)
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
    state: TrainState,
    reference: Reference | GraphReference,
    tracker: Tracker,
    run_dir: Path,
    validation: Reference | None = None,
) -> dict[str, float]:
    """Sample ``train.n_eval`` graphs, score them with molgen.metrics, log scalars, a table and
    a grid (graphs without chemistry: the graph metrics, and the samples as a graph6 file).
    With a ``validation`` reference, molecules also get ``fcd``, the samples' FCD to it."""
    cfg, step = state.cfg, state.step
    if isinstance(reference, GraphReference):
        metrics = evaluate_graphs_during_training(
            state.sampler, reference, cfg.train.n_eval, cfg.seed + step, step, run_dir
        )
        tracker.log({f"eval/{k}": v for k, v in metrics.items()}, step)
        return metrics
    from molgen.chem.draw import draw_grid
    from molgen.metrics import TABLE_COLUMNS, compute_metrics, evaluate
    from molgen.training.constraints import constraint_report

    smiles = [
        s
        for batch in generate_smiles(
            state.sampler, state.vocab, cfg.train.n_eval, seed=cfg.seed + step
        )
        for s in batch
    ]
    evaluation = evaluate(smiles, reference, metrics=TRAIN_METRICS)
    if validation is not None:
        evaluation.metrics |= compute_metrics(smiles, validation, metrics=("fcd",))
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


def record_best(state: TrainState, metrics: dict[str, float], tracker: Tracker) -> bool:
    """Whether this evaluation's ``train.keep_best`` value beats the run's best so far (NaN
    never does, the first defined one always does); if so it becomes ``state.best``, logged as
    ``best/KEY`` and ``best/step``."""
    key = state.cfg.train.keep_best
    value = metrics[key]
    better = state.cfg.keep_best_keys[key]
    if math.isnan(value):
        return False
    if state.best is not None:
        previous = state.best["value"]
        if not (value < previous if better == "min" else value > previous):
            return False
    state.best = {"metric": key, "value": value, "step": state.step}
    tracker.log({f"best/{key}": value, "best/step": state.step}, state.step)
    return True


def save(state: TrainState, ctx: distributed.Distributed, checkpoint: Path) -> None:
    """Write the checkpoint (collective: every rank calls it; rank 0 writes)."""
    state_dict = state.state_dict(ctx)
    if ctx.is_main:
        save_checkpoint(state_dict, checkpoint)


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
