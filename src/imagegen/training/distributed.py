"""Data-parallel training over torch.distributed (launched by ``torchrun`` or ``accelerate launch``).

Every process holds the whole model and takes its slice of each global batch; after backward the
gradients are averaged with one flat all-reduce, so every rank applies the same update and the
weights stay identical. We reduce gradients ourselves rather than wrap the model in
DistributedDataParallel because our models compute losses through ``model.loss(phase, ...)``, not
``forward``, and a GAN step gives gradients to one parameter group per phase: DDP's forward hooks
and unused-parameter search fit neither, and the arithmetic (a mean of the ranks' gradients) is
the same. Buffers (batch-norm statistics) are broadcast from rank 0 after each step, as DDP does.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from imagegen.errors import ConfigError


@dataclass
class Context:
    """Where this process stands in the job.

    Attributes:
        rank: this process's index, 0 .. world - 1.
        world: number of processes.
        local_rank: index on this machine (picks the GPU).
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the only process that writes files or prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def launched() -> bool:
    """Whether a launcher (torchrun, accelerate) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str) -> tuple[Context, str]:
    """Join the job the launcher's environment describes (a no-op for a single process).

    The process group, once made, lives until the process exits: a script may train several
    models in turn, and a group cannot be re-created on the launcher's rendezvous store.

    Args:
        device: the configured device ("cpu", "cuda", ...).

    Returns:
        the context and the device this rank uses ("cuda" becomes "cuda:LOCAL_RANK").
    """
    if dist.is_available() and dist.is_initialized():  # an earlier call, or the caller, made it
        ctx = Context(dist.get_rank(), dist.get_world_size(), _local_rank())
    elif launched():
        if not dist.is_available():
            raise ConfigError(
                "WORLD_SIZE > 1 but this torch has no torch.distributed: install a torch with it"
            )
        for var in ("MASTER_ADDR", "MASTER_PORT", "RANK"):
            if var not in os.environ:
                raise ConfigError(
                    f"WORLD_SIZE is set but {var} is not: launch with `torchrun --nproc_per_node N ...`"
                )
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
        atexit.register(_destroy)
        ctx = Context(dist.get_rank(), dist.get_world_size(), _local_rank())
    else:
        return Context(), device
    if device == "cuda":
        device = f"cuda:{ctx.local_rank}"
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    return ctx, device


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def average_gradients(ctx: Context, params: list[nn.Parameter]) -> None:
    """Replace each gradient by its mean over the ranks (one flat all-reduce)."""
    if not ctx.active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def total(ctx: Context, values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum over the ranks of a small tensor."""
    if not ctx.active:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values


def mean(ctx: Context, values: torch.Tensor) -> torch.Tensor:
    """The element-wise mean over the ranks of a small float tensor."""
    return total(ctx, values) / ctx.world if ctx.active else values


def sync_buffers(ctx: Context, module: nn.Module) -> None:
    """Copy rank 0's buffers (batch-norm running statistics) to every rank."""
    if not ctx.active:
        return
    for b in module.buffers():
        dist.broadcast(b, src=0)
