"""Online merging optimizers (Lu et al. 2024, arXiv 2405.17931): OnDARE and OnTIES on top of AdamW.

Per parameter and step (torch.optim.AdamW arithmetic, so `ondare` with p=1, alpha=0 is bit-identical to it):
  θ ← θ·(1 − lr·wd)                                  decoupled weight decay, before the update (like AdamW)
  m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²        moments always see the full gradient
  Δ = −lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)          the Adam update
  ondare: Δ' = rescale(Δ ⊙ M), M ~ Bernoulli(p) redrawn every step (rescale: ×1/p by default, as F.dropout;
          "l1", the official `rescale=True`: Δ' = clamp(Δ⊙M/p · ‖Δ‖₁/(‖Δ⊙M/p‖₁ + ε), ±clip_val))
          θ ← θ + α·τ + (1−α)·Δ'
  onties: Δ' = Δ ⊙ TopK(|Δ|, k=int(p·n)) ; s = sign(τ + Δ') with 0 → +1
          θ ← θ + α·τ⊙[sign τ = s] + (1−α)·Δ'⊙[sign Δ' = s]
τ is computed once from the SFT and base checkpoints (compute_tau), sparsified with a mask drawn once and
kept for the whole run (ondare: DARE mask, ×1/p, clamped to ±clip_tau, whatever `rescale` says (the
official code's τ; "none" skips the ×1/p); onties: magnitude top-k).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch

METHODS = ("ondare", "onties")


def default_rescale(method: str) -> str:
    return "inverse_keep" if method == "ondare" else "none"


def _rescale_(x: torch.Tensor, before_l1: torch.Tensor | None, keep: float, mode: str) -> torch.Tensor:
    if mode == "inverse_keep":
        return x.div_(keep)
    if mode == "l1":
        after = x.abs().sum()
        if before_l1 is not None and before_l1 >= 1e-8:
            x.mul_(before_l1 / (after + 1e-8))
        return x
    return x


def _l1_rescale_clamp_(d: torch.Tensor, before: torch.Tensor, eps: float, clip_val: float) -> torch.Tensor:
    """OnDARE's `rescale` in the official code: when ‖Δ‖₁ (`before`) ≥ 1e-8, scale the sparsified Δ' (`d`,
    survivors already ×1/p) by ‖Δ‖₁/(‖Δ'‖₁ + eps) and clamp it to ±clip_val."""
    if before >= 1e-8:
        d.mul_(before / (d.abs().sum() + eps)).clamp_(-clip_val, clip_val)
    return d


def topk_values(a: torch.Tensor, k: int) -> torch.Tensor:
    """The k largest entries of the 1-D tensor `a` (any order): torch.topk's values. On CPU float32/64 with
    numba, one compiled pass keeps the values above a threshold read from a strided sample and a partition
    picks the k largest of those (exact; torch.topk when the sample's guess admits too few or too many)."""
    n = a.numel()
    K = _kernels() if (n >= SELECT_MIN_N and 0 < k < n and a.device.type == "cpu" and a.is_contiguous()
                       and a.dtype in (torch.float32, torch.float64)) else None
    if K is not None:
        an = a.detach().numpy()
        lo = _sample_threshold(an[:: _sample_stride(n, 1)], k, n)
        if lo is not None:
            vals = K.top_values(an, k, lo)
            if vals is not None:
                return torch.from_numpy(vals)
    return torch.topk(a, k, sorted=False).values


def magnitude_mask(x: torch.Tensor, keep: float) -> torch.Tensor:
    """1 for the k = int(keep·numel) largest |x|, else 0; ties at the threshold go to the lower flat index
    (deterministic, unlike a bare topk)."""
    n = x.numel()
    k = int(keep * n)
    if keep >= 1 or k < 1:
        return torch.ones_like(x)
    a = x.detach().abs().flatten()
    if a.dtype in (torch.float16, torch.bfloat16):
        a = a.float()
    thr = topk_values(a, k).min()
    m = a > thr
    room = k - int(m.sum())
    if room > 0:
        m[torch.nonzero(a == thr).flatten()[:room]] = True
    return m.view_as(x).to(x.dtype)


def _decay_and_moments_(param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor,
                        step: int, lr: float, betas: tuple[float, float], weight_decay: float) -> tuple[float, float]:
    """The AdamW part every step shares (torch.optim.AdamW's order): decoupled weight decay, then the moments.
    Returns the two bias corrections."""
    beta1, beta2 = betas
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    return 1 - beta1**step, 1 - beta2**step


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
    rescale = rescale or default_rescale(method)
    bias_correction1, bias_correction2 = _decay_and_moments_(param, grad, exp_avg, exp_avg_sq, step, lr, betas, weight_decay)
    step_size = lr / bias_correction1
    denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(eps)
    scale = -step_size
    if method == "ondare":
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
            _l1_rescale_clamp_(d, abs(scale) * before, eps, clip_val)
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
    elif method == "onties":
        delta = (exp_avg / denom).mul_(scale)
        if trace is not None:
            trace["delta"] = delta.clone()
        before = delta.abs().sum() if rescale == "l1" else None
        m = mask if mask is not None else (mask_fn(delta) if mask_fn is not None else magnitude_mask(delta, p))
        if trace is not None:
            trace["mask"] = m.clone()
        delta.mul_(m)
        if p < 1 and rescale != "none":
            _rescale_(delta, before, p, rescale)
        if tau is not None:
            # Sign election with one task vector: s = sign(τ + Δ'), 0 → +1. An element is kept where its own
            # sign equals s; zeros contribute nothing either way, so ">= 0" stands in for the sign.
            positive = (tau + delta) >= 0
            delta.mul_((delta >= 0) == positive)
            if alpha != 0:
                param.add_(tau * ((tau >= 0) == positive), alpha=alpha)
        param.add_(delta, alpha=1 - alpha)
    else:
        raise ValueError(f"unknown method {method!r}")


def sharded_magnitude_mask(x: torch.Tensor, keep: float, dprm) -> torch.Tensor:
    """magnitude_mask over the FULL tensor of the DTensor `dprm`, given this rank's dim-0 shard `x` of a
    same-shaped tensor: exactly the set the unsharded run keeps (k = int(keep·numel) of the whole tensor,
    ties to the lower flat index). Each rank's local top-k values are all-gathered (the global top-k lies in
    their union) to find the threshold; tie counts are all-gathered so ties go to lower ranks first (Shard(0)
    on a 1-D mesh orders flat indices by rank). Communication: k values per rank."""
    import torch.distributed as dist

    n = dprm.numel()
    k = int(keep * n)
    if keep >= 1 or k < 1:
        return torch.ones_like(x)
    group = dprm.device_mesh.get_group()
    world, me = dist.get_world_size(group), dprm.device_mesh.get_local_rank()
    a = x.detach().abs().flatten()
    if a.dtype != torch.float32:
        a = a.float()
    top = torch.full((k,), -1.0, device=a.device)  # |x| ≥ 0, so -1 pads below every real value
    kl = min(k, a.numel())
    if kl:
        top[:kl] = topk_values(a, kl)
    dev = _comm_device(dprm, a)
    top = top.to(dev)
    gathered = [torch.empty_like(top) for _ in range(world)]
    dist.all_gather(gathered, top, group=group)
    thr = topk_values(torch.cat(gathered), k).min().to(a.device)
    m = a > thr
    ties = torch.nonzero(a == thr).flatten()
    counts = torch.tensor([int(m.sum()), ties.numel()], dtype=torch.int64, device=dev)
    all_counts = [torch.empty_like(counts) for _ in range(world)]
    dist.all_gather(all_counts, counts, group=group)
    room = k - sum(int(c[0]) for c in all_counts) - sum(int(c[1]) for c in all_counts[:me])
    if room > 0:
        m[ties[:room]] = True
    return m.view_as(x).to(x.dtype)


def _comm_device(dprm, local: torch.Tensor) -> torch.device:
    """Where the trims' small collectives run: the mesh's device. A CPU-offloaded shard of a CUDA mesh lives on
    the CPU, but its process group is NCCL's, which takes CUDA tensors only."""
    kind = getattr(dprm.device_mesh, "device_type", local.device.type)
    if kind == "cuda" and local.device.type != "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return local.device


def _global_topk_ok(dprm) -> bool:
    """A DTensor sharded along dim 0 on a 1-D mesh (FSDP2's layout): flat index order = rank order."""
    pl = getattr(dprm, "placements", None)
    return pl is not None and len(pl) == 1 and getattr(pl[0], "dim", None) == 0 and dprm.device_mesh.ndim == 1


SPARSE_P = 0.1  # ondare keep rates at or below this use the index (sparse) path
# onties keeps τ as its top-k support (12 bytes per kept entry) at keep rates up to this: ≤ 0.6 bytes per
# element instead of a dense copy, and the step adds α·τ with one index_add over p·n entries, not a full pass.
SPARSE_TAU_ONTIES_P = 0.05


def bernoulli_indices(n: int, p: float, generator: torch.Generator, device=None) -> torch.Tensor:
    """Flat indices of an i.i.d. Bernoulli(p) draw over n elements, sampled as geometric gaps: O(p·n)
    random numbers instead of n."""
    out = []
    pos = -1
    while True:
        chunk = int(max(16, (n - pos) * p * 1.1 + 32))
        gaps = torch.empty(chunk, dtype=torch.float64, device=device).geometric_(p, generator=generator)
        idx = pos + torch.cumsum(gaps, 0)
        out.append(idx)
        pos = idx[-1].item()
        if pos >= n - 1:
            break
    idx = torch.cat(out)
    return idx[idx < n].long()


@dataclass
class SparseTau:
    """τ kept as flat indices + values (ondare with a small keep rate: ~p·n entries instead of n)."""

    indices: torch.Tensor
    values: torch.Tensor


def ondare_sparse_update_(
    param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, step: int, *,
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float, p: float, alpha: float,
    tau: "torch.Tensor | SparseTau | None", kept: torch.Tensor, rescale: str, clip_val: float = 1.0,
) -> None:
    """OnDARE step with the Bernoulli draw given as kept flat indices: the same update as merge_update_ with
    mask = 1 at `kept`, but Δ is only computed where it is kept (rescale "l1" also reads the dense ‖Δ‖₁,
    one more pass over the moments). On CPU
    (float32/64, numba present) the moments are updated in one compiled pass and the kept entries in one
    compiled loop (kernels.update_moments, kernels.dare_apply)."""
    K = _kernels() if (exp_avg.device.type == "cpu" and exp_avg.dtype in (torch.float32, torch.float64)
                       and grad.dtype == exp_avg.dtype == exp_avg_sq.dtype and grad.is_contiguous()
                       and exp_avg.is_contiguous() and exp_avg_sq.is_contiguous()) else None
    if K is None:
        bias_correction1, bias_correction2 = _decay_and_moments_(param, grad, exp_avg, exp_avg_sq, step, lr, betas,
                                                                 weight_decay)
    else:
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        K.update_moments(grad.detach().view(-1).numpy(), exp_avg.view(-1).numpy(), exp_avg_sq.view(-1).numpy(),
                         betas[0], betas[1], torch.get_num_threads())
        bias_correction1, bias_correction2 = 1 - betas[0]**step, 1 - betas[1]**step
    if rescale == "l1":
        scale = -(lr / bias_correction1)
        c2 = bias_correction2**0.5
        before = (exp_avg / (exp_avg_sq.sqrt() / c2).add_(eps)).abs().sum() * abs(scale)
        d = exp_avg.view(-1)[kept] / (exp_avg_sq.view(-1)[kept].sqrt() / c2).add_(eps)
        _l1_rescale_clamp_(d.mul_(scale / p), before, eps, clip_val)
        if alpha != 0 and tau is not None:
            if isinstance(tau, SparseTau):
                param.view(-1).index_add_(0, tau.indices, tau.values, alpha=alpha)
            else:
                param.add_(tau, alpha=alpha)
        param.view(-1).index_add_(0, kept, d.to(param.dtype), alpha=1 - alpha)
        return
    factor = -(lr / bias_correction1) * (1 - alpha)
    if rescale == "inverse_keep":
        factor /= p
    if K is not None and param.is_contiguous() and param.dtype == exp_avg.dtype and kept.device.type == "cpu" \
            and (tau is None or alpha == 0 or isinstance(tau, SparseTau) or tau.is_contiguous()):
        ti = tv = None
        if alpha != 0 and tau is not None:
            if isinstance(tau, SparseTau):
                ti, tv = tau.indices.numpy(), tau.values.numpy()
            else:
                param.add_(tau, alpha=alpha)
        K.dare_apply(param.detach().view(-1).numpy(), exp_avg.view(-1).numpy(), exp_avg_sq.view(-1).numpy(),
                     kept.numpy(), bias_correction2**0.5, eps, factor, ti, tv, alpha)
        return
    m = exp_avg.view(-1)[kept]
    v = exp_avg_sq.view(-1)[kept]
    u = m / (v.sqrt() / bias_correction2**0.5).add_(eps)
    if alpha != 0 and tau is not None:
        if isinstance(tau, SparseTau):
            param.view(-1).index_add_(0, tau.indices, tau.values, alpha=alpha)
        else:
            param.add_(tau, alpha=alpha)
    param.view(-1).index_add_(0, kept, u, alpha=factor)


def topk_indices(a: torch.Tensor, k: int) -> torch.Tensor:
    """Flat indices of the k largest entries of a 1-D tensor, ties at the threshold to the lower index (the
    same set as magnitude_mask)."""
    vals, idx = torch.topk(a, k, sorted=False)
    thr = vals.min()
    strict = idx[vals > thr]
    need = k - strict.numel()
    ties = torch.nonzero(a == thr).flatten()[:need]
    return torch.cat([strict, ties])


class SelectionState:
    """What the OnTIES selection keeps between steps: per moment buffer, the last threshold that worked (the
    next step's first guess; it decides how fast the exact answer is found, never which), and counts of how
    answers were found."""

    def __init__(self):
        self.hints: dict[int, tuple] = {}  # moment buffer address → (threshold, k-th |u|, its trend, try it)
        self.selected = {"candidates": 0, "full_topk": 0}


SELECT_MIN_N = 1 << 14  # smaller tensors take the plain topk path (its fixed costs are smaller there)
SELECT_SAMPLE = 8192  # threshold-estimate sample size
HINT_MARGIN = 0.2  # candidates aimed for above k when the previous step's threshold is reused
HINT_LOWER = 0.95  # the next guess when a threshold admitted fewer spare candidates than that
HINT_TREND = (0.8, 1.25)  # bounds on the step-to-step ratio applied to the next guess


def _sample_stride(n: int, last_dim: int) -> int:
    """An odd stride giving about SELECT_SAMPLE samples that is coprime with the row length, so the sample
    walks across columns instead of repeating a few of them."""
    s = max(1, n // SELECT_SAMPLE) | 1
    while math.gcd(s, max(1, last_dim)) != 1:
        s += 2
    return s


def _kernels():
    """sfmed_trainer.kernels (numba), or None when numba cannot be imported."""
    global _KERNELS
    if _KERNELS is None:
        try:
            from . import kernels
        except ImportError:
            kernels = False
        _KERNELS = kernels
    return _KERNELS or None


_KERNELS = None
# The compiled candidate test may round its quotient differently from torch's ops (its square root is IEEE,
# torch's is off by an ulp at times); the cut is accepted only with this much relative room above the
# candidate threshold (far above float32 rounding).
SELECT_MARGIN = 2.0**-16


def top_update_support(exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, c2: float, eps: float, scale: float,
                       k: int, state: SelectionState | None = None, *,
                       grad: torch.Tensor | None = None,
                       betas: tuple[float, float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(S, Δ[S]) for Δ = exp_avg / (√exp_avg_sq / c2 + eps) · scale: S = the flat indices of the k largest |Δ|
    in ascending order (ties at the threshold to the lower index: the set topk_indices(|Δ|, k) gives); Δ[S]
    bit-identical to that dense torch expression.

    Fast path (CPU, float32/64, large tensors, numba present): a threshold `lo` on |u| = |Δ|/|scale| is read
    from a strided sample (its r-th largest, r four standard deviations above the expected count); one
    compiled pass over the two moments (kernels.candidates) marks C = {|u| ≥ lo}, a few per cent more
    than k, without forming u. On C alone, Δ is formed with the dense expression's own torch ops and the exact
    k-th largest |Δ| (t) selected. Every element outside C has |u| < lo (up to the kernel's rounding, covered
    by SELECT_MARGIN), so when t exceeds lo·|scale|·(1 + SELECT_MARGIN) the set is exact; otherwise (fewer
    than k candidates, or ties reaching the bottom of C, as at Adam's first step where |Δ| ≈ lr almost
    everywhere) the full topk runs. With a `state`, the next call's first guess is the threshold that would
    have admitted k·(1 + HINT_MARGIN) this time, times the step-to-step ratio of the k-th |u| (clamped to
    HINT_TREND): through Adam's warm-up |u| drifts steadily (down, for noisy gradients, as the bias
    corrections fade), and the trend follows it. A guess admitting too few or far too many candidates is
    dropped for the sample.

    With `grad` and `betas`, the Adam moments are first updated from grad (torch.optim.AdamW's formulas). On
    the fast path that happens inside the first marking pass, so the moments are read and written once per
    step; its correctly rounded arithmetic may differ from torch's fused multiply-adds in the last bit."""
    n = exp_avg.numel()
    fast = (n >= SELECT_MIN_N and 0 < k < n and exp_avg.device.type == "cpu"
            and exp_avg.dtype in (torch.float32, torch.float64) and exp_avg_sq.dtype == exp_avg.dtype
            and exp_avg.is_contiguous() and exp_avg_sq.is_contiguous()
            and (grad is None or (grad.dtype == exp_avg.dtype and grad.device.type == "cpu" and grad.is_contiguous())))
    K = _kernels() if fast else None
    pending = grad  # moments still to update
    if K is not None:
        import numpy as np

        m_flat, v_flat = exp_avg.view(-1), exp_avg_sq.view(-1)
        mv, vv = m_flat.numpy(), v_flat.numpy()
        dt = mv.dtype.type
        mom = None
        if grad is not None:
            gv = grad.detach().view(-1).numpy()
            b1, b2 = betas
            mom = (gv, dt(1 - b1), dt(b2), dt(1 - b2))
        hints = state.hints if state is not None else {}
        key = exp_avg.data_ptr()
        hint, t_last, trend, trust = hints.pop(key, (None, None, 1.0, False))
        last_dim = exp_avg.shape[-1] if exp_avg.dim() else 1
        guesses = (hint * trend if trust else None,
                   lambda: _sampled_threshold(mv, vv, c2, eps, k, last_dim, mom if pending is not None else None))
        threads = torch.get_num_threads()
        for i, lo in enumerate(guesses):
            lo = lo() if callable(lo) else lo  # the sample only when the hint is missing or misses
            if lo is None:
                continue
            lo = dt(lo)
            # a hint admitting over twice k is dropped for the sample; the sample's own count is rarely past 4k
            cap = min(n, 2 * k + 64 if i == 0 else 4 * k + 1024)
            count, cand, mc, vc = K.candidates(mv, vv, dt(c2), dt(eps), lo, cap, threads,
                                               mom if pending is not None else None)
            pending = None
            if count <= k or count > cap:
                continue
            hit = i == 0
            # the dense expression's torch ops, on the candidates only: the same values, bit for bit
            uc = torch.from_numpy(mc) / torch.sqrt(torch.from_numpy(vc)).div_(c2).add_(eps)
            dc = (uc * scale).numpy()
            ac = np.abs(dc)
            j = count - k
            # Next step's first guess: the |u| that would have admitted k·(1 + HINT_MARGIN) candidates now
            # (Adam's moments move slowly, so the count stays close; a miss falls back to the sample). It is
            # read off |Δ| = |u|·|scale| in the same partition as the k-th value.
            want = int(k * (1 + HINT_MARGIN)) + 8
            if count > want:
                part = np.partition(ac, [count - want, j])
                nxt = float(part[count - want]) / abs(scale)
            else:  # fewer spare candidates than aimed for: the next guess goes a little lower
                part = np.partition(ac, j)
                nxt = float(lo) * HINT_LOWER
            thr = part[j]
            if not float(thr) > float(lo) * abs(scale) * (1 + SELECT_MARGIN):
                continue
            # a hint that just missed is skipped once
            tried = trust and hint is not None
            t_u = float(thr) / abs(scale)
            trend = min(max(t_u / t_last, HINT_TREND[0]), HINT_TREND[1]) if t_last else 1.0
            hints[key] = (nxt, t_u, trend, hit or not tried)
            if state is not None:
                state.selected["candidates"] += 1
            S, d = K.select_top(cand, dc, ac, thr, k)
            return torch.from_numpy(S), torch.from_numpy(d)
    if pending is not None:
        b1, b2 = betas
        exp_avg.lerp_(pending, 1 - b1)
        exp_avg_sq.mul_(b2).addcmul_(pending, pending, value=1 - b2)
    if state is not None:
        state.selected["full_topk"] += 1
    delta = (exp_avg / (exp_avg_sq.sqrt() / c2).add_(eps)).mul_(scale).view(-1)
    S = torch.sort(topk_indices(delta.abs(), k)).values
    return S, delta[S]


def _sampled_threshold(m, v, c2: float, eps: float, k: int, last_dim: int, moments: tuple | None = None):
    """A value that, almost surely, more than k but not many more of |m / (√v / c2 + eps)| reach (1-D numpy
    moments): the r-th largest over a strided sample, r four standard deviations above the expected count.
    `moments` = (g, w1, b2, w2): the moments as they will be after this step's update."""
    import numpy as np

    n = m.size
    s = _sample_stride(n, last_dim)
    ms, vs = m[::s], v[::s]
    if moments is not None:
        g, w1, b2, w2 = moments
        gs = g[::s]
        ms, vs = ms + w1 * (gs - ms), vs * b2 + w2 * gs * gs
    return _sample_threshold(np.abs(ms / (np.sqrt(vs) / c2 + eps)), k, n)


def _sample_threshold(sample, k: int, n: int):
    """From a uniform (strided) numpy sample of n values: its r-th largest, r four standard deviations above
    the count k·|sample|/n expected over the top k, so that almost surely more than k of the n values reach
    it but not many more; None when the sample is too small for that."""
    import numpy as np

    size = sample.size
    ks = k * size / n
    r = int(ks + 4 * math.sqrt(ks) + 8)
    if r >= size:
        return None
    return np.partition(sample, size - r)[size - r]


def _tau_at(tau: "torch.Tensor | SparseTau", S: torch.Tensor) -> torch.Tensor:
    """τ's values at the flat indices S (zeros off a sparse τ's support)."""
    if not isinstance(tau, SparseTau):
        return tau.reshape(-1)[S]
    m = tau.indices.numel()
    if m == 0:
        return torch.zeros(S.numel(), dtype=tau.values.dtype, device=S.device)
    if S.device.type == "cpu":
        import numpy as np

        pos = torch.from_numpy(np.searchsorted(tau.indices.numpy(), S.numpy())).clamp_(max=m - 1)
    else:
        pos = torch.searchsorted(tau.indices, S).clamp_(max=m - 1)
    hit = tau.indices[pos] == S
    return torch.where(hit, tau.values[pos], torch.zeros((), dtype=tau.values.dtype, device=S.device))


def onties_sparse_update_(
    param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, step: int, *,
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float, p: float, alpha: float,
    tau: "torch.Tensor | SparseTau | None", state: SelectionState | None = None,
) -> None:
    """OnTIES step (no rescale) touching only the kept set S = top-k |Δ|: outside S, Δ' = 0 and the election
    is sign(τ), so τ always survives there; inside S the election decides for both τ and Δ. τ may be dense
    or a SparseTau (its top-k support); a `state` keeps the selection's threshold hints. The moments are
    updated inside top_update_support (in the selection's first pass on CPU)."""
    beta1, beta2 = betas
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)
    bias_correction1, bias_correction2 = 1 - beta1**step, 1 - beta2**step
    S, d = top_update_support(exp_avg, exp_avg_sq, bias_correction2**0.5, eps, -(lr / bias_correction1),
                              int(p * param.numel()), state, grad=grad, betas=betas)
    _onties_merge_(param, S, d, tau, alpha)


def _onties_merge_(param: torch.Tensor, S: torch.Tensor, d: torch.Tensor, tau: "torch.Tensor | SparseTau | None",
                   alpha: float) -> None:
    """OnTIES's election and update given the kept flat indices S (ascending) and Δ there: outside S, Δ' = 0
    and τ always survives the election; inside S it decides for both."""
    flat = param.view(-1)
    K = _kernels() if S.device.type == "cpu" and param.dtype in (torch.float32, torch.float64) \
        and d.dtype == param.dtype and (tau is None or isinstance(tau, SparseTau) or tau.is_contiguous()) else None
    if K is not None:
        if isinstance(tau, SparseTau):
            K.merge(flat.detach().numpy(), S.numpy(), d.numpy(), tau.indices.numpy(), tau.values.numpy(), None, alpha)
        elif tau is not None:
            if alpha != 0:
                param.add_(tau, alpha=alpha)
            K.merge(flat.detach().numpy(), S.numpy(), d.numpy(), None, None, tau.detach().reshape(-1).numpy(), alpha)
        else:
            K.merge(flat.detach().numpy(), S.numpy(), d.numpy(), None, None, None, alpha)
        return
    if tau is None:
        flat.index_add_(0, S, d, alpha=1 - alpha)
        return
    t = _tau_at(tau, S)
    positive = (t + d) >= 0
    d = d * ((d >= 0) == positive)
    if alpha != 0:
        if isinstance(tau, SparseTau):
            flat.index_add_(0, tau.indices, tau.values, alpha=alpha)
        else:
            param.add_(tau, alpha=alpha)
        # inside S: + (1−α)·Δ'' − α·τ where τ lost the election (it was added everywhere above); one add
        d = d.mul_(1 - alpha).sub_(t * ((t >= 0) != positive), alpha=alpha)
        flat.index_add_(0, S, d)
        return
    flat.index_add_(0, S, d, alpha=1 - alpha)


def onties_sharded_update_(
    param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, step: int, *,
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float, p: float, alpha: float,
    tau: "torch.Tensor | SparseTau | None", dprm, state: SelectionState | None = None,
) -> None:
    """OnTIES (no rescale) on this rank's shard `param` of the dim-0-sharded DTensor `dprm`, keeping exactly
    the set sharded_magnitude_mask keeps (the k = int(p·numel) largest |Δ| of the whole tensor, ties to the
    lower flat index), without forming Δ densely: this rank's own top-min(k, shard) entries come from
    top_update_support (the compiled pass on CPU, moments updated in it), the global threshold from an
    all-gather of their |Δ|, and the tie counts from a second one. The global top-k lies among the ranks' own
    top-k, so only a local cut that falls inside a run of values equal to the threshold needs the shard's
    dense |Δ| (to count the ties past it). Every rank makes the same collective calls. Many parameters share
    their all-gathers through onties_sharded_many_."""
    run_gathers([onties_sharded_steps(
        param, grad, exp_avg, exp_avg_sq, step, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, p=p,
        alpha=alpha, tau=tau, dprm=dprm, state=state)], dprm.device_mesh.get_group())


SHARDED_GATHER_BYTES = 64 << 20  # bound on one batched all-gather's receive buffer (world · Σk floats)


def onties_sharded_many_(items: list[dict], group, world: int, budget: int = SHARDED_GATHER_BYTES) -> None:
    """onties_sharded_update_ over many parameters of one process group (each item: its keyword arguments)
    with two all-gathers per batch of parameters instead of two per parameter. A batch takes parameters in
    order while world · Σk · 4 bytes stays within `budget` (at least one parameter): k depends only on the
    full tensor's size, so every rank cuts the same batches. Per-collective latency dominates the step at the
    official keep rate (k = 1 % of a tensor), over gloo as over NCCL."""
    i = 0
    while i < len(items):
        j, size = i, 0
        while j < len(items) and (j == i or size + world * 4 * _sharded_k(items[j]) <= budget):
            size += world * 4 * _sharded_k(items[j])
            j += 1
        run_gathers([onties_sharded_steps(**it) for it in items[i:j]], group)
        i = j


def _sharded_k(item: dict) -> int:
    return int(item["p"] * item["dprm"].numel())


def run_gathers(steps: list, group) -> None:
    """Drive coroutines that each yield the tensor they contribute to an all-gather and are sent back every
    rank's, in rank order, round after round: a round's tensors (one dtype and device) travel in one
    all_gather of their concatenation. Every rank holds coroutines of the same sizes in the same order."""
    import torch.distributed as dist

    world = dist.get_world_size(group)
    pending = [(g, next(g)) for g in steps]
    while pending:
        bufs = [b for _, b in pending]
        if len({(b.dtype, b.device) for b in bufs}) != 1:
            raise RuntimeError(f"run_gathers: one round mixes dtypes/devices {sorted({(str(b.dtype), str(b.device)) for b in bufs})}")
        flat = torch.cat([b.reshape(-1) for b in bufs])
        outs = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(outs, flat, group=group)
        parts = [o.split([b.numel() for b in bufs]) for o in outs]
        nxt = []
        for i, (g, b) in enumerate(pending):
            try:
                nxt.append((g, g.send([parts[r][i].view_as(b) for r in range(world)])))
            except StopIteration:
                pass
        pending = nxt


def onties_sharded_steps(
    param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, step: int, *,
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float, p: float, alpha: float,
    tau: "torch.Tensor | SparseTau | None", dprm, state: SelectionState | None = None,
):
    """onties_sharded_update_ as a coroutine for run_gathers: it yields this rank's top-k |Δ| (padded to k),
    then its strict and tie counts, and receives every rank's of each."""
    beta1, beta2 = betas
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)
    bc1, bc2 = 1 - beta1**step, 1 - beta2**step
    c2, scale = bc2**0.5, -(lr / bc1)
    n = param.numel()
    k = int(p * dprm.numel())
    kl = min(k, n)
    me = dprm.device_mesh.get_local_rank()

    def dense_delta() -> torch.Tensor:  # the moments are updated by now
        return (exp_avg / (exp_avg_sq.sqrt() / c2).add_(eps)).mul_(scale).view(-1)

    if 0 < kl < n:
        S, d = top_update_support(exp_avg, exp_avg_sq, c2, eps, scale, kl, state, grad=grad, betas=betas)
    else:  # the whole shard is a candidate (or there is none): moments, then Δ everywhere
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        S = torch.arange(n, device=param.device)
        d = dense_delta()
    a = d.abs().float()
    top = torch.full((k,), -1.0, device=param.device)  # |Δ| ≥ 0, so -1 pads below every real value
    top[: a.numel()] = a
    dev = _comm_device(dprm, param)
    gathered = yield top.to(dev)
    thr = topk_values(torch.cat(gathered), k).min().to(param.device)
    strict = a > thr
    if 0 < kl < n and bool(a.min() == thr):  # ties at the threshold may continue past the local cut
        full = dense_delta()
        tie_idx = torch.nonzero(full.abs().float() == thr).flatten()
        tie_d = full[tie_idx]
    else:
        tie = a == thr
        tie_idx, tie_d = S[tie], d[tie]
    all_counts = yield torch.tensor([int(strict.sum()), tie_idx.numel()], dtype=torch.int64, device=dev)
    room = max(0, k - sum(int(c[0]) for c in all_counts) - sum(int(c[1]) for c in all_counts[:me]))
    keep_idx = torch.cat([S[strict], tie_idx[:room]])
    keep_d = torch.cat([d[strict], tie_d[:room]])
    order = torch.argsort(keep_idx)
    _onties_merge_(param, keep_idx[order], keep_d[order], tau, alpha)


def _local(x: torch.Tensor) -> torch.Tensor:
    """The local shard of a DTensor (FSDP2 parameter or gradient; an alias), else x."""
    return x.to_local() if hasattr(x, "device_mesh") and hasattr(x, "to_local") else x


class OnlineMergeAdamW(torch.optim.Optimizer):
    """AdamW whose applied update is sparsified (DARE or TIES) and merged with a fixed task vector τ.

    τ is held in `self.tau` (not in the state dict: it is recomputed from the checkpoints and the seed on
    resume). The Bernoulli masks come from a dedicated generator per device whose state is saved in the
    state dict, so a resumed run draws the same masks as an uninterrupted one.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        method: str = "ondare",
        p: float = 1.0,
        alpha: float = 0.0,
        rescale: str | None = None,
        seed: int = 0,
        clip_val: float = 1.0,
    ):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
        if not 0 < p <= 1:
            raise ValueError("p must be in (0, 1]")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))
        self.method, self.p, self.alpha = method, p, alpha
        self.rescale = rescale or default_rescale(method)
        self.clip_val = clip_val  # ondare's Δ' clamp under rescale "l1" (the official clip_val, τ's clamp too)
        self.seed = seed
        self.tau: dict[torch.Tensor, torch.Tensor] = {}
        self._gens: dict[str, torch.Generator] = {}
        self._select = SelectionState()

    def _gen(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._gens:
            g = torch.Generator(device=device)
            g.manual_seed(self.seed)
            self._gens[key] = g
        return self._gens[key]

    def set_tau(self, tau_by_param: dict[torch.Tensor, torch.Tensor]) -> None:
        self.tau = tau_by_param

    # Moments are plain tensors holding this rank's shard even for DTensor (FSDP2) parameters.
    local_state = True

    def reseed(self, salt: int) -> None:
        """Restart the mask generators from seed + salt (a resume whose saved generators cannot be mapped
        to this rank, e.g. on a different number of ranks)."""
        self.seed = self.seed + 1_000_033 * int(salt)
        self._gens.clear()

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        sharded: dict = {}  # process group → OnTIES shard updates, run with batched all-gathers below
        for group in self.param_groups:
            for dprm in group["params"]:
                if dprm.grad is None:
                    continue
                state = self.state[dprm]
                tau = self.tau.get(dprm)
                # FSDP2 parameters are DTensors: the update is elementwise (up to OnTIES's top-k, taken per
                # shard), so it runs on this rank's shard, with plain local moments and τ cut the same way.
                prm, grad = _local(dprm), _local(dprm.grad)
                if len(state) == 0:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(prm, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(prm, memory_format=torch.preserve_format)
                state["step"] += 1
                mask = None
                if self.method == "ondare" and self.p < 1:
                    if self.p <= SPARSE_P and prm.is_contiguous():
                        kept = bernoulli_indices(prm.numel(), self.p, self._gen(prm.device), prm.device)
                        ondare_sparse_update_(
                            prm, grad, state["exp_avg"], state["exp_avg_sq"], state["step"].item(),
                            lr=group["lr"], betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
                            p=self.p, alpha=self.alpha, tau=tau, kept=kept, rescale=self.rescale,
                            clip_val=self.clip_val)
                        continue
                    mask = torch.empty_like(prm).bernoulli_(self.p, generator=self._gen(prm.device))
                mask_fn = None
                if prm is not dprm and self.method == "onties" and self.p < 1:
                    # On CPU (tests, FSDP CPU offload) the compiled selection; GPUs keep the dense trim.
                    if (_global_topk_ok(dprm) and self.rescale == "none" and int(self.p * dprm.numel()) >= 1
                            and prm.device.type == "cpu" and prm.is_contiguous() and grad.is_contiguous()):
                        pg = dprm.device_mesh.get_group()
                        sharded.setdefault(pg, []).append(dict(
                            param=prm, grad=grad, exp_avg=state["exp_avg"], exp_avg_sq=state["exp_avg_sq"],
                            step=state["step"].item(), lr=group["lr"], betas=group["betas"], eps=group["eps"],
                            weight_decay=group["weight_decay"], p=self.p, alpha=self.alpha, tau=tau, dprm=dprm,
                            state=self._select))
                        continue
                    if _global_topk_ok(dprm):
                        mask_fn = lambda d, dp=dprm: sharded_magnitude_mask(d, self.p, dp)
                elif (self.method == "onties" and self.p < 1 and int(self.p * prm.numel()) >= 1
                        and self.rescale == "none" and prm.is_contiguous()):
                    onties_sparse_update_(
                        prm, grad, state["exp_avg"], state["exp_avg_sq"], state["step"].item(),
                        lr=group["lr"], betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
                        p=self.p, alpha=self.alpha, tau=tau, state=self._select)
                    continue
                if isinstance(tau, SparseTau):
                    dense = torch.zeros_like(prm)
                    dense.view(-1)[tau.indices] = tau.values
                    tau = dense
                merge_update_(
                    prm, grad, state["exp_avg"], state["exp_avg_sq"], state["step"].item(),
                    lr=group["lr"], betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
                    method=self.method, p=self.p, alpha=self.alpha, tau=tau, mask=mask,
                    rescale=self.rescale, mask_fn=mask_fn, clip_val=self.clip_val,
                )
        if sharded:
            import torch.distributed as dist

            for pg, items in sharded.items():
                onties_sharded_many_(items, pg, dist.get_world_size(pg))
        return loss

    def state_dict(self):
        sd = super().state_dict()
        sd["mask_rng"] = {k: g.get_state() for k, g in self._gens.items()}
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        rng = state_dict.pop("mask_rng", {})
        super().load_state_dict(state_dict)
        for k, s in rng.items():
            self._gen(torch.device(k)).set_state(s)


# ---------------------------------------------------------------------------------------------------------
# τ = θ_SFT − θ_base, streamed tensor by tensor from the two checkpoints (never three models in memory).


class CheckpointTensors:
    """Lazy reader over a HF checkpoint folder (model.safetensors or a sharded index); one open shard."""

    def __init__(self, folder: str):
        self.folder = folder
        idx = os.path.join(folder, "model.safetensors.index.json")
        if os.path.exists(idx):
            with open(idx, encoding="utf-8") as f:
                self.weight_map: dict[str, str] = json.load(f)["weight_map"]
        else:
            from safetensors import safe_open

            single = os.path.join(folder, "model.safetensors")
            if not os.path.exists(single):
                raise FileNotFoundError(f"{folder}: no model.safetensors or model.safetensors.index.json")
            with safe_open(single, framework="pt") as f:
                self.weight_map = {k: "model.safetensors" for k in f.keys()}
        self._open_name: str | None = None
        self._handle = None

    def __contains__(self, name: str) -> bool:
        return name in self.weight_map

    def get(self, name: str) -> torch.Tensor:
        from safetensors import safe_open

        shard = self.weight_map[name]
        if shard != self._open_name:
            self._handle = safe_open(os.path.join(self.folder, shard), framework="pt")
            self._open_name = shard
        return self._handle.get_tensor(name)


def stream_tau(
    named_params: Iterable[tuple[str, torch.Tensor]],
    sft_path: str,
    base_path: str,
    *,
    method: str,
    p: float,
    clip_tau: float = 1.0,
    rescale: str | None = None,
    seed: int = 0,
    missing: list[str],
    shape_of=lambda prm: tuple(prm.shape),
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(param, its full τ in fp32), one parameter at a time: τ = θ_SFT − θ_base read tensor by tensor from the
    two checkpoints and sparsified with the run's fixed mask (ondare: DARE draw from a generator seeded by
    `seed`, rescaled and clamped to ±clip_tau; onties: magnitude top-k). Every consumer (one process, FSDP
    shards, ZeRO-3 partitions) cuts the same full τ, so they agree with the unsharded run. Names missing
    from a checkpoint are appended to `missing`; `shape_of(param)` is the full shape to check against."""
    rescale = rescale or default_rescale(method)
    sft, base = CheckpointTensors(sft_path), CheckpointTensors(base_path)
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    for name, prm in named_params:
        key = name[len("module.") :] if name.startswith("module.") else name
        if key not in sft or key not in base:
            missing.append(key)
            continue
        t = sft.get(key).float() - base.get(key).float()
        shape = tuple(shape_of(prm))
        if tuple(t.shape) != shape:
            raise ValueError(f"tau {key}: shape {tuple(t.shape)} differs from the model's {shape}")
        if p < 1:
            before = t.abs().sum() if rescale == "l1" else None
            if method == "ondare":
                # The official τ is F.dropout's (×1/p) then the clamp; its L1 `rescale` touches Δ only.
                t.mul_(torch.bernoulli(torch.full_like(t, p), generator=gen))
                _rescale_(t, before, p, "none" if rescale == "none" else "inverse_keep")
            else:
                t.mul_(magnitude_mask(t, p))
                if rescale != "none":
                    _rescale_(t, before, p, rescale)
        if method == "ondare":
            t.clamp_(-clip_tau, clip_tau)
        yield prm, t


def compute_tau(
    named_params: Iterable[tuple[str, torch.Tensor]],
    sft_path: str,
    base_path: str,
    *,
    method: str,
    p: float,
    clip_tau: float = 1.0,
    rescale: str | None = None,
    seed: int = 0,
) -> tuple[dict[torch.Tensor, torch.Tensor], list[str]]:
    """Return ({param: τ}, names missing from either checkpoint). τ is fp32-computed (stream_tau), stored in
    the parameter's dtype and device, and sparsified with a mask fixed for the run."""
    rescale = rescale or default_rescale(method)
    out: dict[torch.Tensor, torch.Tensor] = {}
    missing: list[str] = []
    for prm, t in stream_tau(named_params, sft_path, base_path, method=method, p=p, clip_tau=clip_tau,
                             rescale=rescale, seed=seed, missing=missing):
        # τ is built and sparsified on the full tensor (the same mask as an unsharded run), then a sharded
        # (DTensor) parameter keeps only its own slice, cut as the parameter is.
        loc = _local(prm)
        if loc is not prm:
            from torch.distributed.tensor import distribute_tensor

            t = distribute_tensor(t, prm.device_mesh, prm.placements, src_data_rank=None).to_local()
        t = t.to(dtype=loc.dtype, device=loc.device)
        if loc.is_contiguous() and ((method == "ondare" and p <= SPARSE_P)
                                    or (method == "onties" and p <= SPARSE_TAU_ONTIES_P and rescale == "none")):
            # A small keep rate leaves τ with ≈ p·n nonzeros (ondare's fixed DARE support, onties's top-k):
            # kept as indices + values; the index update paths read it directly.
            flat = t.contiguous().view(-1)
            idx = torch.nonzero(flat).flatten()
            out[prm] = SparseTau(idx, flat[idx].clone())
        else:
            out[prm] = t.contiguous()
    return out, missing
