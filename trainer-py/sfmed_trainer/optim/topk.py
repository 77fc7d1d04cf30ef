"""Top-k selection: the k largest values, magnitude masks (ties to the lower flat index), and the support of
the k largest Adam updates |Δ| found from the moments without forming Δ densely (OnTIES's kept set)."""

from __future__ import annotations

import math

import torch

from .native import kernels

SELECT_MIN_N = 1 << 14  # smaller tensors take the plain topk path (its fixed costs are smaller there)
SELECT_SAMPLE = 8192  # threshold-estimate sample size
HINT_MARGIN = 0.2  # candidates aimed for above k when the previous step's threshold is reused
HINT_LOWER = 0.95  # the next guess when a threshold admitted fewer spare candidates than that
HINT_TREND = (0.8, 1.25)  # bounds on the step-to-step ratio applied to the next guess
# The compiled candidate test may round its quotient differently from torch's ops (its square root is IEEE,
# torch's is off by an ulp at times); the cut is accepted only with this much relative room above the
# candidate threshold (far above float32 rounding).
SELECT_MARGIN = 2.0**-16


def topk_values(a: torch.Tensor, k: int) -> torch.Tensor:
    """The k largest entries of the 1-D tensor `a` (any order): torch.topk's values. On CPU float32/64 with
    numba, one compiled pass keeps the values above a threshold read from a strided sample and a partition
    picks the k largest of those (exact; torch.topk when the sample's guess admits too few or too many)."""
    n = a.numel()
    fast = (
        n >= SELECT_MIN_N
        and 0 < k < n
        and a.device.type == "cpu"
        and a.is_contiguous()
        and a.dtype in (torch.float32, torch.float64)
    )
    K = kernels() if fast else None
    if K is not None:
        an = a.detach().numpy()
        lo = sample_threshold(an[:: sample_stride(n, 1)], k, n)
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


def sample_stride(n: int, last_dim: int) -> int:
    """An odd stride giving about SELECT_SAMPLE samples that is coprime with the row length, so the sample
    walks across columns instead of repeating a few of them."""
    s = max(1, n // SELECT_SAMPLE) | 1
    while math.gcd(s, max(1, last_dim)) != 1:
        s += 2
    return s


def top_update_support(
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    c2: float,
    eps: float,
    scale: float,
    k: int,
    state: SelectionState | None = None,
    *,
    grad: torch.Tensor | None = None,
    betas: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
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
    fast = (
        n >= SELECT_MIN_N
        and 0 < k < n
        and exp_avg.device.type == "cpu"
        and exp_avg.dtype in (torch.float32, torch.float64)
        and exp_avg_sq.dtype == exp_avg.dtype
        and exp_avg.is_contiguous()
        and exp_avg_sq.is_contiguous()
        and (grad is None or (grad.dtype == exp_avg.dtype and grad.device.type == "cpu" and grad.is_contiguous()))
    )
    K = kernels() if fast else None
    pending = grad  # moments still to update
    if K is not None:
        found, pending = _candidate_support(K, exp_avg, exp_avg_sq, c2, eps, scale, k, state, grad, betas)
        if found is not None:
            return found
    if pending is not None:
        b1, b2 = betas
        exp_avg.lerp_(pending, 1 - b1)
        exp_avg_sq.mul_(b2).addcmul_(pending, pending, value=1 - b2)
    if state is not None:
        state.selected["full_topk"] += 1
    delta = (exp_avg / (exp_avg_sq.sqrt() / c2).add_(eps)).mul_(scale).view(-1)
    S = torch.sort(topk_indices(delta.abs(), k)).values
    return S, delta[S]


def _candidate_support(K, exp_avg, exp_avg_sq, c2, eps, scale, k, state, grad, betas):
    """top_update_support's compiled path: ((S, Δ[S]) or None, the gradient still to fold into the moments
    (None once a compiled pass has updated them))."""
    import numpy as np

    n = exp_avg.numel()
    mv, vv = exp_avg.view(-1).numpy(), exp_avg_sq.view(-1).numpy()
    dt = mv.dtype.type
    mom = None
    if grad is not None:
        b1, b2 = betas
        mom = (grad.detach().view(-1).numpy(), dt(1 - b1), dt(b2), dt(1 - b2))
    pending = grad
    hints = state.hints if state is not None else {}
    key = exp_avg.data_ptr()
    hint, t_last, trend, trust = hints.pop(key, (None, None, 1.0, False))
    last_dim = exp_avg.shape[-1] if exp_avg.dim() else 1
    guesses = (
        hint * trend if trust else None,
        lambda: sampled_threshold(mv, vv, c2, eps, k, last_dim, mom if pending is not None else None),
    )
    threads = torch.get_num_threads()
    for i, lo in enumerate(guesses):
        lo = lo() if callable(lo) else lo  # the sample only when the hint is missing or misses
        if lo is None:
            continue
        lo = dt(lo)
        # a hint admitting over twice k is dropped for the sample; the sample's own count is rarely past 4k
        cap = min(n, 2 * k + 64 if i == 0 else 4 * k + 1024)
        count, cand, mc, vc = K.candidates(
            mv, vv, dt(c2), dt(eps), lo, cap, threads, mom if pending is not None else None
        )
        pending = None
        if count <= k or count > cap:
            continue
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
        hints[key] = (nxt, t_u, trend, i == 0 or not tried)
        if state is not None:
            state.selected["candidates"] += 1
        S, d = K.select_top(cand, dc, ac, thr, k)
        return (torch.from_numpy(S), torch.from_numpy(d)), pending
    return None, pending


def sampled_threshold(m, v, c2: float, eps: float, k: int, last_dim: int, moments: tuple | None = None):
    """A value that, almost surely, more than k but not many more of |m / (√v / c2 + eps)| reach (1-D numpy
    moments): the r-th largest over a strided sample, r four standard deviations above the expected count.
    `moments` = (g, w1, b2, w2): the moments as they will be after this step's update."""
    import numpy as np

    n = m.size
    s = sample_stride(n, last_dim)
    ms, vs = m[::s], v[::s]
    if moments is not None:
        g, w1, b2, w2 = moments
        gs = g[::s]
        ms, vs = ms + w1 * (gs - ms), vs * b2 + w2 * gs * gs
    return sample_threshold(np.abs(ms / (np.sqrt(vs) / c2 + eps)), k, n)


def sample_threshold(sample, k: int, n: int):
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
