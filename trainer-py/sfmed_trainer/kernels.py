"""Compiled CPU kernels (numba) for the online-merging steps: OnTIES's selection and merge, OnDARE's moments.

OnTIES keeps the k = p·n largest |Δ| of each tensor. As torch ops, finding them is seven passes over memory
(sqrt, div, add, div, abs, compare, nonzero) plus a topk. Here:
- `candidates`: one pass over the two Adam moments (updating them from the gradient first, when asked),
  block by block: a vectorised loop marks, in an L1-sized buffer, where |m / (√v / c₂ + ε)| reaches a
  threshold chosen to admit a little more than k elements, and a second loop collects the marked indices and
  their moments, skipping eight unmarked elements at a time;
- `select_top`: the exact top k among the candidates once the caller has found the k-th value;
- `top_values`: the k largest values of a plain array above a sampled threshold (the magnitude masks' top-k);
- `merge`: the sign election with τ (sparse, dense or none) and the update, on the kept set only;
- `update_moments`, `dare_apply`: OnDARE's index path, the moments in one pass and the update on the kept
  entries (gather, quotient and add in one loop).
Large tensors are cut into chunks run on a thread pool as wide as torch's intra-op pool (the kernels release
the GIL).

The marking quotient uses the correctly rounded IEEE square root; torch's CPU `sqrt` differs from it by one
ulp on about 0.7% of inputs (measured), so the marks may differ from torch's compare at the rounding level:
`optim.top_update_support` forms Δ on the candidates with torch's own ops and accepts the cut only with a
margin (SELECT_MARGIN) that covers this. This module imports numba; optim/native.py imports it lazily and takes the
torch path when that fails.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

# Below this many elements per chunk a second thread costs more than it saves.
CHUNK_MIN = 1 << 20

_pool: ThreadPoolExecutor | None = None
_pool_size = 0

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)


BLOCK = 2048  # elements marked per inner loop: the block's moments and marks stay in L1 for the gather


@_jit
def _scan(g, m, v, mode, w1, w1c, b2, w2, c2, eps, lo, base, idx, mo, vo):  # pragma: no cover - compiled
    """Candidates of m/v (global indices from `base`) into idx/mo/vo; returns their count, which may exceed
    the outputs' size (then only the first ones are written). mode 0 reads the moments as they are; modes 1
    and 2 first update them in place from the gradient g in the same pass (torch's formulas: m.lerp_(g, w1),
    whose form depends on w1 < 0.5 (mode 1) or not (mode 2), and v.mul_(b2).addcmul_(g, g, value=w2)), so
    the moments are read and written once. Every scalar comes in the arrays' dtype (w1c = 1 − w1): a
    Python-int expression here would be float64."""
    n = m.size
    cap = idx.size
    buf = np.zeros(BLOCK, dtype=np.bool_)
    words = buf.view(np.uint64)
    c = 0
    for s in range(0, n, BLOCK):
        e = min(n, s + BLOCK)
        gb = g[s:e]
        mb = m[s:e]  # slices: indices known to be in range, so LLVM vectorises the marking loops
        vb = v[s:e]
        L = e - s
        if mode == 0:
            for j in range(L):
                buf[j] = abs(mb[j] / (np.sqrt(vb[j]) / c2 + eps)) >= lo
        elif mode == 1:
            for j in range(L):
                gj = gb[j]
                mj = mb[j] + w1 * (gj - mb[j])
                vj = vb[j] * b2 + w2 * gj * gj
                mb[j] = mj
                vb[j] = vj
                buf[j] = abs(mj / (np.sqrt(vj) / c2 + eps)) >= lo
        else:
            for j in range(L):
                gj = gb[j]
                mj = gj - (gj - mb[j]) * w1c
                vj = vb[j] * b2 + w2 * gj * gj
                mb[j] = mj
                vb[j] = vj
                buf[j] = abs(mj / (np.sqrt(vj) / c2 + eps)) >= lo
        for j in range(L, BLOCK):
            buf[j] = False
        for w in range(BLOCK // 8):
            x = words[w]
            if x != 0:  # eight unmarked elements at once: most words at a 1% keep rate
                for b in range(8):
                    if (x >> np.uint64(8 * b)) & np.uint64(0xFF):
                        j = w * 8 + b
                        if c < cap:
                            idx[c] = base + s + j
                            mo[c] = mb[j]
                            vo[c] = vb[j]
                        c += 1
    return c


@_jit
def _moments(g, m, v, w1, w1c, b2, w2):  # pragma: no cover - compiled
    """The Adam moment update alone (OnDARE's index path), one pass: the formulas of _scan's modes 1 and 2."""
    if w1 < 0.5:
        for i in range(m.size):
            gi = g[i]
            m[i] = m[i] + w1 * (gi - m[i])
            v[i] = v[i] * b2 + w2 * gi * gi
    else:
        for i in range(m.size):
            gi = g[i]
            m[i] = gi - (gi - m[i]) * w1c
            v[i] = v[i] * b2 + w2 * gi * gi


@_jit
def _dare_apply(flat, m, v, kept, c2, eps, factor, ti, tv, alpha):  # pragma: no cover - compiled
    for j in range(ti.size):  # θ += α·τ on τ's (fixed, sparse) support first, as the dense step orders it
        flat[ti[j]] += alpha * tv[j]
    for i in range(kept.size):  # then the kept Adam updates: one read of m, v and θ per kept entry
        q = kept[i]
        flat[q] += factor * (m[q] / (np.sqrt(v[q]) / c2 + eps))


@_jit
def _at_least(a, lo, out):  # pragma: no cover - compiled
    """The values of a that are ≥ lo, in order, into out (while it has room); returns how many there are."""
    cap = out.size
    c = 0
    for i in range(a.size):
        x = a[i]
        if x >= lo:
            if c < cap:
                out[c] = x
            c += 1
    return c


@_jit
def _select(idx, d, a, thr, need, s_out, d_out):  # pragma: no cover - compiled
    c = 0
    for i in range(idx.size):
        if a[i] > thr or (a[i] == thr and need > 0):
            if a[i] == thr:
                need -= 1
            s_out[c] = idx[i]
            d_out[c] = d[i]
            c += 1
    return c


@_jit
def _merge_sparse(flat, S, d, ti, tv, alpha, one_minus, zero):  # pragma: no cover - compiled
    i = 0
    j = 0
    ns, nt = S.size, ti.size
    while i < ns or j < nt:
        if j < nt and (i >= ns or ti[j] < S[i]):
            flat[ti[j]] += alpha * tv[j]  # Δ' = 0 here, so the election is sign(τ): τ is kept
            j += 1
        else:
            s = S[i]
            di = d[i]
            t = zero
            if j < nt and ti[j] == s:
                t = tv[j]
                j += 1
            positive = (t + di) >= 0
            dk = di if (di >= 0) == positive else zero
            tk = t if (t >= 0) == positive else zero
            flat[s] = (flat[s] + alpha * tk) + one_minus * dk
            i += 1


@_jit
def _merge_dense(flat, S, d, tau, alpha, one_minus, zero):  # pragma: no cover - compiled
    # flat already holds θ + α·τ everywhere; on S the election may drop τ and Δ
    for i in range(S.size):
        s = S[i]
        di = d[i]
        t = tau[s]
        positive = (t + di) >= 0
        dk = di if (di >= 0) == positive else zero
        lost = zero if (t >= 0) == positive else t
        flat[s] = (flat[s] - alpha * lost) + one_minus * dk


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size < threads:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool, _pool_size = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sfmed-select"), threads
    return _pool


def _bounds(n: int, threads: int) -> list[int]:
    chunks = max(1, min(threads, n // CHUNK_MIN))
    return [n * i // chunks for i in range(chunks + 1)]


def candidates(
    m: np.ndarray, v: np.ndarray, c2, eps, lo, cap: int, threads: int = 1, moments: tuple | None = None
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(count, idx, m[idx], v[idx]) for idx = the flat indices where |m / (√v / c2 + eps)| ≥ lo, ascending,
    over contiguous 1-D arrays of one float dtype (c2, eps, lo given in that dtype). When count > cap the
    arrays hold only the first cap entries (the caller's threshold admitted too many).

    `moments` = (g, w1, b2, w2): first update m and v in place, in the same pass, as torch.optim.AdamW does
    with gradient g (m.lerp_(g, w1); v.mul_(b2).addcmul_(g, g, value=w2)). Each operation is correctly
    rounded, so the result may differ from torch's vectorised (fused multiply-add) kernels in the last bit."""
    b = _bounds(m.size, threads)
    jobs = list(zip(b, b[1:]))
    parts = [(np.empty(cap, dtype=np.int64), np.empty(cap, dtype=m.dtype), np.empty(cap, dtype=v.dtype)) for _ in jobs]
    dt = m.dtype.type
    if moments is not None:
        g, w1, b2, w2 = moments
        mode = 1 if w1 < 0.5 else 2
    else:
        g, w1, b2, w2, mode = m, dt(0), dt(0), dt(0), 0  # g unread in mode 0
    scalars = (mode, w1, dt(1) - w1, b2, w2, c2, eps, lo)
    if len(jobs) == 1:
        counts = [_scan(g, m, v, *scalars, 0, *parts[0])]
    else:
        pool = _executor(len(jobs))
        futs = [pool.submit(_scan, g[x:y], m[x:y], v[x:y], *scalars, x, *pt) for (x, y), pt in zip(jobs, parts)]
        counts = [f.result() for f in futs]
    count = int(sum(counts))
    keep = min(count, cap)
    if len(jobs) == 1:
        return count, parts[0][0][:keep], parts[0][1][:keep], parts[0][2][:keep]
    # each chunk wrote its first min(its count, cap) entries: together, in order, they start with the first cap
    return count, *(np.concatenate([pt[t][: min(c, cap)] for pt, c in zip(parts, counts)])[:keep] for t in range(3))


def update_moments(g: np.ndarray, m: np.ndarray, v: np.ndarray, b1: float, b2: float, threads: int = 1) -> None:
    """m.lerp_(g, 1 − b1); v.mul_(b2).addcmul_(g, g, value=1 − b2) in one pass over contiguous 1-D arrays of
    one float dtype (each operation rounded once: may differ from torch's kernels in the last bit)."""
    dt = m.dtype.type
    w1 = dt(1 - b1)
    args = (w1, dt(1) - w1, dt(b2), dt(1 - b2))
    b = _bounds(m.size, threads)
    if len(b) == 2:
        _moments(g, m, v, *args)
        return
    pool = _executor(len(b) - 1)
    for f in [pool.submit(_moments, g[x:y], m[x:y], v[x:y], *args) for x, y in zip(b, b[1:])]:
        f.result()


def dare_apply(
    flat: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    kept: np.ndarray,
    c2: float,
    eps: float,
    factor: float,
    tau_indices: np.ndarray | None,
    tau_values: np.ndarray | None,
    alpha: float,
) -> None:
    """OnDARE's update on its kept entries: θ += α·τ over τ's sparse support (when given), then
    θ[kept] += factor · m / (√v / c2 + eps) at each kept flat index (any order, no repeats)."""
    dt = flat.dtype.type
    if tau_indices is None:
        tau_indices, tau_values = np.empty(0, dtype=np.int64), np.empty(0, dtype=flat.dtype)
    _dare_apply(flat, m, v, kept, dt(c2), dt(eps), dt(factor), tau_indices, tau_values, dt(alpha))


def top_values(a: np.ndarray, k: int, lo) -> np.ndarray | None:
    """The k largest values of the contiguous 1-D array `a` (any order), found among those ≥ `lo`; None
    when fewer than k or more than 4k + 1024 reach `lo` (the caller then takes another way). Exact whenever
    it answers: at least k values ≥ lo means the k-th largest is ≥ lo, so every one of the k largest is there
    (tied values are interchangeable)."""
    out = np.empty(min(a.size, 4 * k + 1024), dtype=a.dtype)
    c = int(_at_least(a, a.dtype.type(lo), out))
    if c < k or c > out.size:
        return None
    vals = out[:c]
    return np.partition(vals, c - k)[c - k :]


def select_top(idx: np.ndarray, d: np.ndarray, a: np.ndarray, thr, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The entries of (idx, d) whose a = |d| is above `thr`, then those equal to it in order until k are
    taken (idx ascending: ties go to the lower index). `thr` must be the k-th largest of a."""
    need = k - int(np.count_nonzero(a > thr))
    s_out, d_out = np.empty(k, dtype=idx.dtype), np.empty(k, dtype=d.dtype)
    got = _select(idx, d, a, a.dtype.type(thr), need, s_out, d_out)
    if got != k:
        raise ValueError(f"select_top: took {got} entries, not {k} (thr is not the k-th largest)")
    return s_out, d_out


def merge(
    flat: np.ndarray,
    S: np.ndarray,
    d: np.ndarray,
    tau_indices: np.ndarray | None,
    tau_values: np.ndarray | None,
    tau_dense: np.ndarray | None,
    alpha: float,
) -> None:
    """OnTIES's election and update on the kept set S (ascending) with Δ' = d there: θ += α·τ where τ wins
    the election, + (1−α)·Δ' where Δ' wins. τ is sparse (ascending indices + values), dense, or absent. With a
    dense τ, `flat` must already hold θ + α·τ (one in-place torch add does that best); this corrects S."""
    dt = flat.dtype.type
    if tau_dense is not None:
        _merge_dense(flat, S, d, tau_dense, dt(alpha), dt(1 - alpha), dt(0))
        return
    if tau_indices is None:
        tau_indices, tau_values = np.empty(0, dtype=np.int64), np.empty(0, dtype=flat.dtype)
    _merge_sparse(flat, S, d, tau_indices, tau_values, dt(alpha), dt(1 - alpha), dt(0))
