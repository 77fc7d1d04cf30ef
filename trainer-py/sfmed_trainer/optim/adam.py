"""The AdamW arithmetic every online-merge path shares (torch.optim.AdamW's order), the rescale rules and the
hyperparameters of one update."""

from __future__ import annotations

from dataclasses import dataclass

import torch

METHODS = ("ondare", "onties")


def default_rescale(method: str) -> str:
    return "inverse_keep" if method == "ondare" else "none"


@dataclass(frozen=True)
class MergeHParams:
    """One parameter group's AdamW settings plus the run's merge settings: what a per-tensor update reads."""

    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    method: str
    p: float
    alpha: float
    rescale: str
    clip_val: float = 1.0

    @property
    def adam(self) -> dict:
        """The keyword arguments every per-tensor update takes."""
        return dict(lr=self.lr, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay)


def rescale_(x: torch.Tensor, before_l1: torch.Tensor | None, keep: float, mode: str) -> torch.Tensor:
    """Rescale a sparsified tensor in place: ×1/keep ("inverse_keep"), back to its L1 norm before the drop
    ("l1"), or not at all ("none")."""
    if mode == "inverse_keep":
        return x.div_(keep)
    if mode == "l1":
        after = x.abs().sum()
        if before_l1 is not None and before_l1 >= 1e-8:
            x.mul_(before_l1 / (after + 1e-8))
        return x
    return x


def l1_rescale_clamp_(d: torch.Tensor, before: torch.Tensor, eps: float, clip_val: float) -> torch.Tensor:
    """OnDARE's `rescale` in the official code: when ‖Δ‖₁ (`before`) ≥ 1e-8, scale the sparsified Δ' (`d`,
    survivors already ×1/p) by ‖Δ‖₁/(‖Δ'‖₁ + eps) and clamp it to ±clip_val."""
    if before >= 1e-8:
        d.mul_(before / (d.abs().sum() + eps)).clamp_(-clip_val, clip_val)
    return d


def decay_and_moments_(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
) -> tuple[float, float]:
    """The AdamW part every step shares (torch.optim.AdamW's order): decoupled weight decay, then the moments.
    Returns the two bias corrections."""
    beta1, beta2 = betas
    decay_(param, lr, weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    return 1 - beta1**step, 1 - beta2**step


def decay_(param: torch.Tensor, lr: float, weight_decay: float) -> None:
    """Decoupled weight decay, before the update (as AdamW)."""
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)


def bias_corrections(step: int, betas: tuple[float, float]) -> tuple[float, float]:
    return 1 - betas[0] ** step, 1 - betas[1] ** step
