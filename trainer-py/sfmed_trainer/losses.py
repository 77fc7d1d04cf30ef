"""Preference losses on per-sequence summed log-probabilities (TRL DPOTrainer semantics)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class DpoOutput:
    losses: torch.Tensor  # [B]
    rewards_chosen: torch.Tensor  # [B] beta * (pi_c - ref_c)
    rewards_rejected: torch.Tensor  # [B]

    @property
    def loss(self) -> torch.Tensor:
        return self.losses.mean()

    def metrics(self) -> dict[str, float]:
        rc, rr = self.rewards_chosen.detach(), self.rewards_rejected.detach()
        return {
            "rewards_chosen": rc.mean().item(),
            "rewards_rejected": rr.mean().item(),
            "reward_accuracy": (rc > rr).float().mean().item(),
            "reward_margin": (rc - rr).mean().item(),
        }


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    reference_chosen_logps: torch.Tensor,
    reference_rejected_logps: torch.Tensor,
    *,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> DpoOutput:
    """DPO family losses.

    h = (pi_c - pi_r) - (ref_c - ref_r)
    - sigmoid: -(1-ls)·logσ(βh) - ls·logσ(-βh)          (cDPO when ls > 0)
    - robust:  (-(1-ls)·logσ(βh) + ls·logσ(-βh)) / (1-2ls) (Chowdhury et al. 2024)
    - hinge:   relu(1 - βh)                             (SLiC)
    - ipo:     (h - 1/(2β))²                            (IPO; the trainer passes length-averaged log-probs)
    """
    h = (policy_chosen_logps - policy_rejected_logps) - (reference_chosen_logps - reference_rejected_logps)
    ls = label_smoothing
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * h) * (1 - ls) - F.logsigmoid(-beta * h) * ls
    elif loss_type == "robust":
        losses = (-F.logsigmoid(beta * h) * (1 - ls) + F.logsigmoid(-beta * h) * ls) / (1 - 2 * ls)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * h)
    elif loss_type == "ipo":
        losses = (h - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"unknown loss_type {loss_type!r}")
    rewards_chosen = beta * (policy_chosen_logps - reference_chosen_logps).detach()
    rewards_rejected = beta * (policy_rejected_logps - reference_rejected_logps).detach()
    return DpoOutput(losses, rewards_chosen, rewards_rejected)


def bt_loss(chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None = None) -> torch.Tensor:
    """Bradley–Terry reward loss -logσ(r_c - r_r - margin), mean over the batch."""
    d = chosen - rejected
    if margin is not None:
        d = d - margin
    return -F.logsigmoid(d).mean()
