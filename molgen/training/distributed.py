"""torch.distributed plumbing for data-parallel training launched by ``torchrun``.

``torchrun --nproc_per_node K -m molgen train CONFIG`` starts K processes with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set; :func:`setup` joins them into a process group (NCCL on
CUDA, gloo on CPU). Without those variables everything here is a no-op for one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from molgen.errors import InputError

__all__ = ["Distributed", "resolve_device", "setup", "world_size"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run: ``rank`` of ``world_size`` processes."""

    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone evaluates, logs and writes checkpoints."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank if it is True on any rank (e.g. Ctrl-C seen by one process)."""
        if not self.enabled:
            return flag
        t = torch.tensor([int(flag)], device=_collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (picklable objects, e.g. RNG states)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def max_divergence(self, module: nn.Module) -> float:
        """Largest absolute difference between this module's parameters on any rank and rank 0
        (0.0 when data-parallel training kept the replicas identical)."""
        if not self.enabled:
            return 0.0
        worst = torch.zeros((), device=_collective_device())
        for p in module.parameters():
            reference = p.detach().clone()
            dist.broadcast(reference, src=0)
            worst = torch.maximum(worst, (p.detach() - reference).abs().max().to(worst.device))
        dist.all_reduce(worst, op=dist.ReduceOp.MAX)
        return float(worst)

    def wrap(self, module: nn.Module) -> nn.Module:
        """``DistributedDataParallel(module)`` when distributed; the module itself otherwise."""
        if not self.enabled:
            return module
        device_ids = [module_device(module).index] if module_device(module).type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def module_device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _collective_device() -> torch.device:
    # NCCL communicates CUDA tensors only; gloo CPU tensors.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU; never touches CUDA on a CPU-only machine."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"train.device={name!r} but CUDA is not available on this machine")
    return device


def world_size() -> int:
    """The number of processes torchrun started for this run (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: torch.device) -> tuple[Distributed, torch.device]:
    """Join the process group torchrun describes (if any) and pick this rank's device."""
    processes = world_size()
    if processes == 1:
        return Distributed(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank=rank, world_size=processes), device


def teardown(ctx: Distributed) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
