"""The process a run lives in: its rank, world size and device (torch.distributed opened from the launcher's
environment) and the stop flag SIGINT/SIGTERM set."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from .events import log


class Stop:
    """Set by SIGINT/SIGTERM (both alike: Slurm and other schedulers send SIGTERM); the loop checkpoints after
    the current optimizer step and the CLI exits with 128 + the signal's number."""

    requested = False
    signum: int | None = None

    @classmethod
    def install(cls) -> None:
        cls.requested, cls.signum = False, None

        def handler(signum, frame):
            cls.requested = True
            cls.signum = cls.signum or signum
            log(f"received signal {signum}: checkpointing after this step")

        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, handler)


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_dist(job) -> Dist:
    """This process's rank and device; opens the process group for multi-process runs (except DeepSpeed's)."""
    want_cuda = job.device == "cuda" or (job.device == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(0, 1, torch.device("cuda") if want_cuda else torch.device("cpu"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local) if want_cuda else torch.device("cpu")
    if job.train.sharding == "deepspeed" and job.mode == "train":
        # DeepSpeed opens the process group itself (through accelerate); one opened here hides the world size
        # from deepspeed.comm.
        rank = int(os.environ.get("RANK", "0"))
    else:
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if want_cuda else "gloo")
        rank = dist.get_rank()
    if want_cuda:
        torch.cuda.set_device(device)
    return Dist(rank, world, device)


def stop_requested(d: Dist) -> bool:
    """Stop.requested on any rank (every rank must call it: one all-reduce when there are several)."""
    flag = Stop.requested
    if d.world > 1:
        v = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(v, op=dist.ReduceOp.MAX)
        flag = v.item() > 0
    return flag


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def to_device(b: dict[str, Any], device) -> dict[str, Any]:
    """A batch with its tensors moved to `device`."""
    return {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in b.items()}
