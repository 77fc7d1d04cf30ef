"""The learning-rate schedule and the planned step counts of a run (shared by both DPO engines, so their
schedules and events agree)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch


def lr_lambda(kind: str, warmup: int, total: int) -> Callable[[int], float]:
    """The LR multiplier at a step: linear warm-up, then constant, linear or cosine decay to 0 at `total`."""

    def f(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        progress = min(max(progress, 0.0), 1.0)
        if kind == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


@dataclass
class StepPlan:
    """Step counts and precision of a training run, from the job and the data size (shared by both DPO engines,
    so their schedules and events agree)."""

    per_step: int  # examples per optimizer step, all ranks
    steps_per_epoch: int
    total: int
    warmup: int
    eval_every: int
    save_every: int
    bf16: bool

    @classmethod
    def of(cls, t, n: int, d) -> "StepPlan":
        """`t`: the job's train settings; `n`: training examples; `d`: the run's Dist (world size, device)."""
        per_step = t.batch_size * t.grad_accum * d.world
        spe = max(1, n // per_step)
        total = t.max_steps or max(1, math.ceil(t.epochs * spe))
        warmup = t.warmup_steps or math.ceil(t.warmup_ratio * total)
        bf16 = t.bf16 is True or (t.bf16 == "auto" and d.device.type == "cuda")
        return cls(per_step, spe, total, warmup, t.eval_steps or spe, t.save_steps or spe, bf16)

    def lr_lambda(self, kind: str) -> Callable[[int], float]:
        return lr_lambda(kind, self.warmup, self.total)

    def scheduler(self, opt, kind: str) -> torch.optim.lr_scheduler.LambdaLR:
        """The run's LambdaLR over `opt` (the optimizer's lr is the peak)."""
        return torch.optim.lr_scheduler.LambdaLR(opt, self.lr_lambda(kind))
