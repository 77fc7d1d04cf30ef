"""The per-tensor online-merge update. `merge_update_` is the dense definition (the reference every faster
path matches); `update_tensor_` is the one decision both optimizers (OnlineMergeAdamW, ds_merge's
ZeroMergeAdamW) make per tensor: which path runs the update (OnDARE's index path, OnTIES's top-k support,
or the dense step with a mask or a global top-k).

Per tensor and step (torch.optim.AdamW arithmetic, so `ondare` with p=1, alpha=0 is bit-identical to it):
  θ ← θ·(1 − lr·wd) ;  m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
  Δ = −lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)
  ondare: Δ' = rescale(Δ ⊙ M), M ~ Bernoulli(p) redrawn every step;  θ ← θ + α·τ + (1−α)·Δ'
  onties: Δ' = Δ ⊙ TopK(|Δ|, k=int(p·n)) ; s = sign(τ + Δ') with 0 → +1
          θ ← θ + α·τ⊙[sign τ = s] + (1−α)·Δ'⊙[sign Δ' = s]
"""

from __future__ import annotations

from typing import Callable

import torch

from .adam import MergeHParams, decay_and_moments_, default_rescale, l1_rescale_clamp_, rescale_
from .sparse import SPARSE_P, SparseTau, bernoulli_indices, dense_tau, ondare_sparse_update_, onties_sparse_update_
from .topk import SelectionState, magnitude_mask


def merge_update_(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    method: str,
    p: float,
    alpha: float,
    tau: torch.Tensor | None,
    mask: torch.Tensor | None,
    rescale: str | None = None,
    trace: dict | None = None,
    mask_fn=None,
    clip_val: float = 1.0,
) -> None:
    """One in-place online-merge step for one tensor. `step` is this update's 1-based count; `mask` is the
    keep mask for Δ (ondare: the Bernoulli draw; onties: None → magnitude top-k of Δ). `tau` is the stored,
    already-sparsified task vector (None = zeros). `mask_fn(Δ)` replaces onties' top-k (the sharded,
    global-threshold selection). `trace`, when given, receives the raw Adam update
    ("delta") and the keep mask used ("mask"). `clip_val` clamps ondare's Δ' under rescale "l1" (the official
    `clip_val`, the same number as τ's clamp)."""
    if method not in ("ondare", "onties"):
        raise ValueError(f"unknown method {method!r}")
    rescale = rescale or default_rescale(method)
    bc1, bc2 = decay_and_moments_(param, grad, exp_avg, exp_avg_sq, step, lr, betas, weight_decay)
    denom = (exp_avg_sq.sqrt() / bc2**0.5).add_(eps)
    scale = -lr / bc1
    if method == "ondare":
        _ondare_(param, exp_avg, denom, scale, eps, p, alpha, tau, mask, rescale, trace, clip_val)
    else:
        _onties_(param, exp_avg, denom, scale, p, alpha, tau, mask, rescale, trace, mask_fn)


def _ondare_(param, exp_avg, denom, scale, eps, p, alpha, tau, mask, rescale, trace, clip_val) -> None:
    if mask is None and p >= 1 and rescale == "l1":
        mask = torch.ones_like(param)  # the official l1 step clamps Δ even when nothing is dropped
    if mask is None and p >= 1:
        # Nothing dropped: AdamW's own addcdiv_ (bit-identical to torch.optim.AdamW when alpha = 0).
        if trace is not None:
            trace["delta"] = torch.zeros_like(param).addcdiv_(exp_avg, denom, value=scale)
            trace["mask"] = torch.ones_like(param)
        if tau is not None and alpha != 0:
            param.add_(tau, alpha=alpha)
        param.addcdiv_(exp_avg, denom, value=scale * (1 - alpha))
        return
    u = exp_avg / denom  # Δ = scale·u; scalars are folded into one final add to save passes
    if trace is not None:
        trace["delta"] = u * scale
        trace["mask"] = mask.clone()
    before = u.abs().sum() if rescale == "l1" else None
    u.mul_(mask)
    if rescale == "l1":
        # The official step: Δ' = Δ⊙M/p scaled back to ‖Δ‖₁ (ε = the optimizer's eps) and clamped.
        d = u.mul_(scale / p)
        l1_rescale_clamp_(d, abs(scale) * before, eps, clip_val)
        if tau is not None and alpha != 0:
            param.add_(tau, alpha=alpha)
        param.add_(d, alpha=1 - alpha)
        return
    factor = scale * (1 - alpha)
    if rescale == "inverse_keep":
        factor /= p
    if tau is not None and alpha != 0:
        param.add_(tau, alpha=alpha)
    param.add_(u, alpha=factor)


def _onties_(param, exp_avg, denom, scale, p, alpha, tau, mask, rescale, trace, mask_fn) -> None:
    delta = (exp_avg / denom).mul_(scale)
    if trace is not None:
        trace["delta"] = delta.clone()
    before = delta.abs().sum() if rescale == "l1" else None
    m = mask if mask is not None else (mask_fn(delta) if mask_fn is not None else magnitude_mask(delta, p))
    if trace is not None:
        trace["mask"] = m.clone()
    delta.mul_(m)
    if p < 1 and rescale != "none":
        rescale_(delta, before, p, rescale)
    if tau is not None:
        # Sign election with one task vector: s = sign(τ + Δ'), 0 → +1. An element is kept where its own
        # sign equals s; zeros contribute nothing either way, so ">= 0" stands in for the sign.
        positive = (tau + delta) >= 0
        delta.mul_((delta >= 0) == positive)
        if alpha != 0:
            param.add_(tau * ((tau >= 0) == positive), alpha=alpha)
    param.add_(delta, alpha=1 - alpha)


def update_tensor_(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    hp: MergeHParams,
    *,
    tau: "torch.Tensor | SparseTau | None",
    gen: torch.Generator | None = None,
    whole: bool = True,
    global_mask: Callable[[torch.Tensor], torch.Tensor] | None = None,
    selection: SelectionState | None = None,
) -> None:
    """One online-merge step for one tensor, on the fastest path that gives merge_update_'s result.

    `param` is the whole parameter (`whole`) or this rank's piece of it (an FSDP shard, a ZeRO-3 partition).
    OnDARE draws its mask from `gen`: at keep rates ≤ SPARSE_P as kept indices (the index path), else as a
    dense Bernoulli mask. OnTIES's top-k is over the whole parameter: on a piece, `global_mask(Δ)` gives the
    keep mask of this piece (None: the piece's own top-k); on a whole tensor without rescaling, the index path
    forms Δ only on the kept support."""
    mask = None
    if hp.method == "ondare" and hp.p < 1:
        if hp.p <= SPARSE_P and param.is_contiguous():
            kept = bernoulli_indices(param.numel(), hp.p, gen, param.device)
            ondare_sparse_update_(
                param, grad, exp_avg, exp_avg_sq, step, **hp.adam, p=hp.p, alpha=hp.alpha, tau=tau, kept=kept,
                rescale=hp.rescale, clip_val=hp.clip_val,
            )  # fmt: skip
            return
        mask = torch.empty_like(param).bernoulli_(hp.p, generator=gen)
    elif whole and _onties_index_path(hp, param):
        onties_sparse_update_(
            param, grad, exp_avg, exp_avg_sq, step, **hp.adam, p=hp.p, alpha=hp.alpha, tau=tau, state=selection
        )
        return
    merge_update_(
        param, grad, exp_avg, exp_avg_sq, step, **hp.adam, method=hp.method, p=hp.p, alpha=hp.alpha,
        tau=dense_tau(tau, param), mask=mask, rescale=hp.rescale, mask_fn=global_mask, clip_val=hp.clip_val,
    )  # fmt: skip


def _onties_index_path(hp: MergeHParams, param: torch.Tensor) -> bool:
    return (
        hp.method == "onties"
        and hp.p < 1
        and int(hp.p * param.numel()) >= 1
        and hp.rescale == "none"
        and param.is_contiguous()
    )
