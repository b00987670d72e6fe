"""Process groups and model wrapping for `torchrun`: DDP or FSDP2, gloo on CPU, NCCL on GPU.

Launch with `torchrun --nproc_per_node N -m hare pretrain …` (multi-node: add torchrun's
`--nnodes/--node-rank/--rdzv-endpoint`). Without torchrun the same code runs as one process; FSDP2
then still gets a one-rank gloo group so that every code path is the same one tests exercise.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def rank() -> int:
    """This process's rank under `torchrun` (0 alone)."""
    return int(os.environ.get("RANK", "0"))


def init(device: str = "auto") -> Dist:
    """Join the `torchrun` process group if there is one; pick this rank's device."""
    import torch
    import torch.distributed as dist

    from hare.model.load import resolve_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    kind = resolve_device(device)
    if kind == "cuda":
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device(kind)
    if world > 1 and not dist.is_initialized():
        # One group for the process's life, closed at its exit: a second group after destroying the first
        # reads torchrun's store under the same keys, and ranks that reach it at different moments pair up
        # wrongly and hang (the second part of a soup did, its ranks done with the first at different times).
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        atexit.register(_destroy)
    return Dist(rank(), world, local_rank, dev)


def ensure_group() -> None:
    """FSDP2 needs a process group even for one rank."""
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)


def wrap(model: nn.Module, how: Literal["ddp", "fsdp2"], d: Dist, layers: list[nn.Module]) -> nn.Module:
    """DDP replicates the model; FSDP2 (`fully_shard`) shards each of `layers` and then the rest."""
    if how == "fsdp2":
        from torch.distributed.fsdp import fully_shard

        ensure_group()
        for layer in layers:
            fully_shard(layer)
        fully_shard(model)
        return model
    if d.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[d.local_rank] if d.device.type == "cuda" else None)


def all_reduce_mean(value: torch.Tensor, d: Dist) -> torch.Tensor:
    import torch.distributed as dist

    if d.world > 1:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= d.world
    return value


def barrier(d: Dist) -> None:
    import torch.distributed as dist

    if dist.is_initialized() and d.world > 1:
        dist.barrier()


def shutdown() -> None:
    """After a run: close the one-rank group FSDP2 needed (`ensure_group`), so the next run in this process
    starts clean; torchrun's group stays for the next run of this process (see `init`)."""
    import torch.distributed as dist

    if dist.is_initialized() and dist.get_world_size() == 1:
        dist.destroy_process_group()


def _destroy() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
