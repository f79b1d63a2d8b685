"""What a training run holds and how this process runs it.

:class:`TrainState` is everything a checkpoint holds (its ``state_dict`` writes
:data:`~molgen.training.run.CHECKPOINT_ENTRIES`) and :func:`init_state` builds a fresh one;
:class:`Runtime` is how this process runs the steps of :mod:`molgen.training.steps` (devices,
precision, DDP views, the critic objective, compiled when ``train.compile`` asks), and nothing
in it is saved.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from molgen.config import Config
from molgen.data.graphs import GraphDataset, GraphVocabulary, community_sizes
from molgen.errors import InputError
from molgen.gan import compile_critic_objective, critic_objective
from molgen.models import Discriminator, Generator, RewardNetwork
from molgen.models.fragments import FragmentDiscriminator
from molgen.nn.schedules import TemperatureSchedule, make_schedule
from molgen.training import distributed
from molgen.training.graphs import critic_graph_args
from molgen.training.run import build_generator, load_part, split_lines, training_set_record

if TYPE_CHECKING:  # RDKit: imported where a molecule run needs it, never on graphs
    from molgen.chem import FragmentVocabulary, Vocabulary
    from molgen.data import MolDataset

__all__ = ["Runtime", "TrainState", "init_state"]

log = logging.getLogger(__name__)


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
    # the run's data: vocabulary, info, and the training graphs (and SMILES, for molecules)
    dataset: MolDataset | GraphDataset
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
    # train.keep_best's record of the best evaluation so far: metric, value, step
    best: dict[str, Any] | None = None

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
    def vocab(self) -> Vocabulary | FragmentVocabulary | GraphVocabulary:
        return self.dataset.vocab

    @functools.cached_property
    def train_set(self) -> dict[str, Any]:
        """The checkpoint's record of the training molecules (hashed once, not at every save)."""
        return training_set_record(split_lines(self.dataset.train))

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
            "best": self.best,
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
        best = state.get("best")  # kept while the run keeps its best by the same key
        self.best = best if best and best["metric"] == self.cfg.train.keep_best else None


def init_state(
    cfg: Config, dataset: MolDataset | GraphDataset, device: torch.device, rank: int = 0
) -> TrainState:
    """A fresh run's state: weights from ``cfg.seed`` (the same on every rank), then this
    rank's RNGs (rank 0 draws what a single-process run draws)."""
    vocab = dataset.vocab
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    generator = build_generator(cfg.generator, vocab).to(device)
    if cfg.generator.community_size == "data":  # graph data only (the config says so)
        generator.fit_communities([community_sizes(g) for g in dataset.train.graphs])
    if cfg.data.representation == "fragments":
        critic = _fragment_critic(cfg, vocab).to(device)
        return _fresh_state(cfg, dataset, generator, critic, None, device, rank)
    n_atom_types, n_bond_types = vocab.num_atom_types, vocab.num_bond_types
    # What the structure features (discriminator.structure_features) need of the vocabulary.
    bond_classes = _critic_args(vocab)
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
    return _fresh_state(cfg, dataset, generator, critic, reward_net, device, rank)


def _fragment_critic(cfg: Config, vocab: FragmentVocabulary) -> FragmentDiscriminator:
    """The critic of a fragment run (no reward network: the config refuses RL for fragments)."""
    return FragmentDiscriminator(
        cfg.discriminator,
        vocab.num_node_types,
        vocab.num_bond_types,
        vocab.max_sites,
        pack=cfg.gan.pack,
        minibatch_std=cfg.gan.minibatch_std,
    )


def _fresh_state(
    cfg: Config,
    dataset: MolDataset,
    generator: Generator,
    critic: Discriminator,
    reward_net: RewardNetwork | None,
    device: torch.device,
    rank: int,
) -> TrainState:
    """The optimisers, schedule, averaged generator and RNGs of a fresh run around its
    networks."""
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


def _critic_args(vocab: Vocabulary | GraphVocabulary) -> dict[str, Any]:
    """What the critic's structure features need of the vocabulary: each bond class's order
    and the aromatic class, if any (on graphs also the degree histogram's last bin)."""
    if isinstance(vocab, GraphVocabulary):
        return critic_graph_args(vocab)
    from molgen.chem import bond_orders

    return {
        "bond_orders": bond_orders(vocab),
        "aromatic_bond": (
            vocab.bond_types.index("AROMATIC") + 1 if "AROMATIC" in vocab.bond_types else None
        ),
    }


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
    vocab: Vocabulary | GraphVocabulary,
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
