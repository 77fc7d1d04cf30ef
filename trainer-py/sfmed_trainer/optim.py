"""Online merging optimizers (Lu et al. 2024, arXiv 2405.17931): OnDARE and OnTIES on top of AdamW.

Per parameter and step (torch.optim.AdamW arithmetic, so `ondare` with p=1, alpha=0 is bit-identical to it):
  θ ← θ·(1 − lr·wd)                                  decoupled weight decay, before the update (like AdamW)
  m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²        moments always see the full gradient
  Δ = −lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)          the Adam update
  ondare: Δ' = rescale(Δ ⊙ M), M ~ Bernoulli(p) redrawn every step (rescale: ×1/p by default, as F.dropout)
          θ ← θ + α·τ + (1−α)·Δ'
  onties: Δ' = Δ ⊙ TopK(|Δ|, k=int(p·n)) ; s = sign(τ + Δ') with 0 → +1
          θ ← θ + α·τ⊙[sign τ = s] + (1−α)·Δ'⊙[sign Δ' = s]
τ is computed once from the SFT and base checkpoints (compute_tau), sparsified with a mask drawn once and
kept for the whole run (ondare: DARE mask, ×1/p, clamped to ±clip_tau; onties: magnitude top-k).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Iterable

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
    thr = torch.topk(a, k, sorted=False).values.min()
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
) -> None:
    """One in-place online-merge step for one tensor. `step` is this update's 1-based count; `mask` is the
    keep mask for Δ (ondare: the Bernoulli draw; onties: None → magnitude top-k of Δ). `tau` is the stored,
    already-sparsified task vector (None = zeros). `mask_fn(Δ)` replaces onties' top-k (the sharded,
    global-threshold selection). `trace`, when given, receives the raw Adam update
    ("delta") and the keep mask used ("mask")."""
    rescale = rescale or default_rescale(method)
    bias_correction1, bias_correction2 = _decay_and_moments_(param, grad, exp_avg, exp_avg_sq, step, lr, betas, weight_decay)
    step_size = lr / bias_correction1
    denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(eps)
    scale = -step_size
    if method == "ondare":
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
        factor = scale * (1 - alpha)
        if rescale == "inverse_keep":
            factor /= p
        elif rescale == "l1":
            b, a = abs(scale) * before.item(), abs(scale) * u.abs().sum().item()
            if b >= 1e-8:
                factor *= b / (a + 1e-8)
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
        top[:kl] = torch.topk(a, kl, sorted=False).values
    gathered = [torch.empty_like(top) for _ in range(world)]
    dist.all_gather(gathered, top, group=group)
    thr = torch.topk(torch.cat(gathered), k, sorted=False).values.min()
    m = a > thr
    ties = torch.nonzero(a == thr).flatten()
    counts = torch.tensor([int(m.sum()), ties.numel()], dtype=torch.int64, device=a.device)
    all_counts = [torch.empty_like(counts) for _ in range(world)]
    dist.all_gather(all_counts, counts, group=group)
    room = k - sum(int(c[0]) for c in all_counts) - sum(int(c[1]) for c in all_counts[:me])
    if room > 0:
        m[ties[:room]] = True
    return m.view_as(x).to(x.dtype)


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
    tau: "torch.Tensor | SparseTau | None", kept: torch.Tensor, rescale: str,
) -> None:
    """OnDARE step with the Bernoulli draw given as kept flat indices: the same update as merge_update_ with
    mask = 1 at `kept`, but Δ is only computed where it is kept. rescale "l1" is not supported here."""
    bias_correction1, bias_correction2 = _decay_and_moments_(param, grad, exp_avg, exp_avg_sq, step, lr, betas, weight_decay)
    m = exp_avg.view(-1)[kept]
    v = exp_avg_sq.view(-1)[kept]
    u = m / (v.sqrt() / bias_correction2**0.5).add_(eps)
    factor = -(lr / bias_correction1) * (1 - alpha)
    if rescale == "inverse_keep":
        factor /= p
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


class Scratch:
    """Reusable per-step buffers (one set per device and dtype, grown to the largest tensor seen): the
    OnTIES step allocates nothing of full size. Also holds the selection's threshold hints, which only
    decide how fast the exact answer is found, never which answer."""

    def __init__(self):
        self._bufs: dict[tuple, torch.Tensor] = {}
        self.hints: dict[int, tuple] = {}  # per moment buffer: (last candidate threshold, try it): speed only

    # Buffers persist between steps; beyond this many elements (a large embedding shard) they are
    # temporaries instead, like AdamW's, so they do not sit beside activations during forward/backward.
    keep_max = 1 << 26

    def get(self, slot: int, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        dtype = dtype or like.dtype
        key = (slot, like.device, dtype)
        n = like.numel()
        if n > self.keep_max:
            return torch.empty(n, dtype=dtype, device=like.device)
        b = self._bufs.get(key)
        if b is None or b.numel() < n:
            b = self._bufs[key] = torch.empty(n, dtype=dtype, device=like.device)
        return b[:n]


SELECT_MIN_N = 1 << 14  # smaller tensors take the plain topk path (its fixed costs are smaller there)
SELECT_SAMPLE = 8192  # threshold-estimate sample size
HINT_MARGIN = 0.08  # candidates aimed for above k when the previous step's threshold is reused


def _sample_stride(n: int, last_dim: int) -> int:
    """An odd stride giving about SELECT_SAMPLE samples that is coprime with the row length, so the sample
    walks across columns instead of repeating a few of them."""
    s = max(1, n // SELECT_SAMPLE) | 1
    while math.gcd(s, max(1, last_dim)) != 1:
        s += 2
    return s


def top_update_support(exp_avg: torch.Tensor, denom: torch.Tensor, scale: float, k: int,
                       scratch: Scratch | None = None, norm: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(S, Δ[S]) for Δ = (exp_avg / denom)·scale: S = the flat indices of the k largest |Δ| (ties at the
    threshold to the lower index: the set topk_indices(|Δ|, k) gives); Δ[S] bit-identical to the dense
    expression. `denom` is overwritten (used as scratch).

    Fast path (CPU, float32/64, large tensors): u = exp_avg / denom is one pass into a scratch buffer and
    |u| a second one into denom's; |Δ| = fl(|u|·|scale|) is a non-decreasing function of |u|. A threshold `lo`
    on |u| is read from a strided sample (its r-th largest, r four standard deviations above the expected
    count), then one vectorised compare + compaction (numpy) gives the candidates C = {|u| ≥ lo}, a few per
    cent more than k. Δ is formed on C only and the exact k-th largest |Δ| (t) selected there. Every element
    outside C has |Δ| ≤ min over C, so when t > min_C |Δ| the set is exact; otherwise (fewer than k
    candidates, or ties reaching the bottom of C, as at Adam's first step where |Δ| ≈ lr almost everywhere)
    the full topk runs. With a `scratch`, the threshold that worked is kept (divided by `norm`, the first
    moment's bias correction, so it tracks |Δ|/lr across Adam's warm-up) as the next call's first guess;
    a guess admitting too few or far too many candidates is dropped for the sample before compaction."""
    n = exp_avg.numel()
    fast = (n >= SELECT_MIN_N and 0 < k < n and exp_avg.device.type == "cpu"
            and exp_avg.dtype in (torch.float32, torch.float64) and exp_avg.is_contiguous() and denom.is_contiguous())
    if not fast:
        delta = (exp_avg / denom).mul_(scale).view(-1)
        S = topk_indices(delta.abs(), k)
        return S, delta[S]
    import numpy as np

    u = scratch.get(1, exp_avg) if scratch is not None else torch.empty(n, dtype=exp_avg.dtype)
    torch.div(exp_avg.view(-1), denom.view(-1), out=u)
    un, an = u.numpy(), denom.view(-1).numpy()
    np.abs(un, out=an)
    mask = (scratch.get(2, exp_avg, torch.bool) if scratch is not None else torch.empty(n, dtype=torch.bool)).numpy()
    hints = scratch.hints if scratch is not None else {}
    key = exp_avg.data_ptr()
    hint, trust = hints.pop(key, (None, False))
    guesses = (hint * norm if trust else None,
               lambda: _sampled_threshold(an, k, exp_avg.shape[-1] if exp_avg.dim() else 1))
    for i, lo in enumerate(guesses):
        lo = lo() if callable(lo) else lo  # the sample only when the hint is missing or misses
        if lo is None:
            continue
        np.greater_equal(an, lo, out=mask)
        cand = np.flatnonzero(mask)  # its size is the count: no separate counting pass over the mask
        if cand.size <= k or (i == 0 and cand.size > 2 * k + 64):
            continue
        hit = i == 0
        uc = un[cand]
        dc = uc * un.dtype.type(scale)  # the same rounding as torch's mul_ by a Python float
        ac = np.abs(dc)
        j = cand.size - k
        thr = np.partition(ac, j)[j]
        if not thr > ac.min():
            continue
        keep = ac > thr
        need = k - int(np.count_nonzero(keep))
        if need > 0:
            keep[np.flatnonzero(ac == thr)[:need]] = True
        # Next step's first guess: the |u| that would have admitted k·(1 + HINT_MARGIN) candidates now
        # (Adam's moments move slowly, so the count stays close; a miss falls back to the sample).
        want = int(k * (1 + HINT_MARGIN)) + 8
        if cand.size > want:
            ua = np.abs(uc)
            # a hint that just missed is skipped once (during Adam's warm-up it keeps missing)
            tried = trust and hint is not None
            hints[key] = (np.partition(ua, cand.size - want)[cand.size - want] / norm, hit or not tried)
        return torch.from_numpy(cand[keep]), torch.from_numpy(dc[keep])
    delta = u.mul_(scale)
    S = topk_indices(delta.abs(), k)
    return S, delta[S]


def _sampled_threshold(a, k: int, last_dim: int):
    """A value of the 1-D numpy array `a` with, almost surely, more than k entries at or above it but not
    many more: the r-th largest of a strided sample, r four standard deviations above the expected count."""
    import numpy as np

    n = a.size
    sample = a[::_sample_stride(n, last_dim)]
    ms = sample.size
    ks = k * ms / n
    r = int(ks + 4 * math.sqrt(ks) + 8)
    if r >= ms:
        return None
    return np.partition(sample, ms - r)[ms - r]


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


def _onties_merge_numpy(flat, S, d, tau, alpha: float) -> None:
    """The election and merge of onties_sparse_update_ on numpy views (CPU float32/64): the same arithmetic
    as the torch ops, with a few microseconds per call instead of tens (it runs on p·n entries)."""
    import numpy as np

    if tau is None:
        flat[S] += d * (1 - alpha)
        return
    if isinstance(tau, SparseTau):
        ti, tv = tau.indices.numpy(), tau.values.numpy()
        if ti.size:
            pos = np.minimum(np.searchsorted(ti, S), ti.size - 1)
            t = np.where(ti[pos] == S, tv[pos], tv.dtype.type(0))
        else:
            t = np.zeros_like(d)
    else:
        t = tau.detach().reshape(-1).numpy()[S]
    positive = (t + d) >= 0
    d = np.where((d >= 0) == positive, d, d.dtype.type(0))
    if alpha == 0:
        flat[S] += d
        return
    if isinstance(tau, SparseTau):
        flat[ti] += tv * tv.dtype.type(alpha)
    else:
        flat += tau.detach().reshape(-1).numpy() * flat.dtype.type(alpha)
    # inside S: + (1−α)·Δ'' − α·τ where τ lost the election (it was added everywhere above); one add
    flat[S] += d * d.dtype.type(1 - alpha) - np.where((t >= 0) != positive, t, t.dtype.type(0)) * t.dtype.type(alpha)


def onties_sparse_update_(
    param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, step: int, *,
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float, p: float, alpha: float,
    tau: "torch.Tensor | SparseTau | None", scratch: Scratch | None = None,
) -> None:
    """OnTIES step (no rescale) touching only the kept set S = top-k |Δ|: outside S, Δ' = 0 and the election
    is sign(τ), so τ always survives there; inside S the election decides for both τ and Δ. τ may be dense
    or a SparseTau (its top-k support); the denominator goes to a scratch buffer when one is given."""
    bias_correction1, bias_correction2 = _decay_and_moments_(param, grad, exp_avg, exp_avg_sq, step, lr, betas, weight_decay)
    if scratch is not None:
        denom = scratch.get(0, exp_avg).view_as(exp_avg)
        torch.sqrt(exp_avg_sq, out=denom).div_(bias_correction2**0.5).add_(eps)
    else:
        denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(eps)
    S, d = top_update_support(exp_avg, denom, -(lr / bias_correction1), int(p * param.numel()), scratch,
                              norm=bias_correction1)
    flat = param.view(-1)
    if S.device.type == "cpu" and param.dtype in (torch.float32, torch.float64) and d.dtype == param.dtype \
            and (tau is None or isinstance(tau, SparseTau) or tau.is_contiguous()):
        _onties_merge_numpy(flat.detach().numpy(), S.numpy(), d.numpy(), tau, alpha)
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
    ):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
        if not 0 < p <= 1:
            raise ValueError("p must be in (0, 1]")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))
        self.method, self.p, self.alpha = method, p, alpha
        self.rescale = rescale or default_rescale(method)
        self.seed = seed
        self.tau: dict[torch.Tensor, torch.Tensor] = {}
        self._gens: dict[str, torch.Generator] = {}
        self._scratch = Scratch()

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
                    if self.p <= SPARSE_P and self.rescale != "l1" and prm.is_contiguous():
                        kept = bernoulli_indices(prm.numel(), self.p, self._gen(prm.device), prm.device)
                        ondare_sparse_update_(
                            prm, grad, state["exp_avg"], state["exp_avg_sq"], state["step"].item(),
                            lr=group["lr"], betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
                            p=self.p, alpha=self.alpha, tau=tau, kept=kept, rescale=self.rescale)
                        continue
                    mask = torch.empty_like(prm).bernoulli_(self.p, generator=self._gen(prm.device))
                mask_fn = None
                if prm is not dprm and self.method == "onties" and self.p < 1:
                    if _global_topk_ok(dprm):
                        mask_fn = lambda d, dp=dprm: sharded_magnitude_mask(d, self.p, dp)
                elif (self.method == "onties" and self.p < 1 and int(self.p * prm.numel()) >= 1
                        and self.rescale == "none" and prm.is_contiguous()):
                    onties_sparse_update_(
                        prm, grad, state["exp_avg"], state["exp_avg_sq"], state["step"].item(),
                        lr=group["lr"], betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
                        p=self.p, alpha=self.alpha, tau=tau, scratch=self._scratch)
                    continue
                if isinstance(tau, SparseTau):
                    dense = torch.zeros_like(prm)
                    dense.view(-1)[tau.indices] = tau.values
                    tau = dense
                merge_update_(
                    prm, grad, state["exp_avg"], state["exp_avg_sq"], state["step"].item(),
                    lr=group["lr"], betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
                    method=self.method, p=self.p, alpha=self.alpha, tau=tau, mask=mask,
                    rescale=self.rescale, mask_fn=mask_fn,
                )
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
    """Return ({param: τ}, names missing from either checkpoint). τ is fp32-computed, stored in the
    parameter's dtype and device, and sparsified with a mask fixed for the run."""
    rescale = rescale or default_rescale(method)
    sft, base = CheckpointTensors(sft_path), CheckpointTensors(base_path)
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    out: dict[torch.Tensor, torch.Tensor] = {}
    missing: list[str] = []
    for name, prm in named_params:
        key = name[len("module.") :] if name.startswith("module.") else name
        if key not in sft or key not in base:
            missing.append(key)
            continue
        t = sft.get(key).float() - base.get(key).float()
        if t.shape != prm.shape:
            raise ValueError(f"tau {key}: shape {tuple(t.shape)} differs from the model's {tuple(prm.shape)}")
        if p < 1:
            before = t.abs().sum() if rescale == "l1" else None
            if method == "ondare":
                t.mul_(torch.bernoulli(torch.full_like(t, p), generator=gen))
                _rescale_(t, before, p, rescale)
            else:
                t.mul_(magnitude_mask(t, p))
                if rescale != "none":
                    _rescale_(t, before, p, rescale)
        if method == "ondare":
            t.clamp_(-clip_tau, clip_tau)
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
