"""The compiled OnTIES kernels (sfmed_trainer/kernels.py) against plain numpy/torch references, as properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sfmed_trainer import kernels as K
from sfmed_trainer import optim as O
from sfmed_trainer.optim import native

DTYPES = (np.float32, np.float64)
PROPS = settings(max_examples=60, deadline=None)


def moments(seed: int, n: int, dtype, ties: bool):
    rng = np.random.default_rng(seed)
    if ties:  # few distinct magnitudes: many equal quotients
        m = rng.integers(-3, 4, n).astype(dtype) * dtype(0.25)
        v = np.ones(n, dtype=dtype)
    else:
        m = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, -2, n)).astype(dtype)
        v = (rng.random(n) * 10.0 ** rng.integers(-12, -6, n)).astype(dtype)
    return m, v


@PROPS
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 9000),
    dtype=st.sampled_from(DTYPES),
    q=st.floats(0.0, 1.0),
    ties=st.booleans(),
    threads=st.sampled_from([1, 3]),
    slack=st.integers(-5, 50),
)
def test_candidates_equal_numpy(seed, n, dtype, q, ties, threads, slack):
    """Every index whose IEEE quotient reaches lo, in order, with its moments, for any size (blocks, words and
    tails) and thread split; past `cap` the count stays exact and the arrays hold the first cap entries."""
    m, v = moments(seed, n, dtype, ties)
    c2, eps = dtype(0.83), dtype(1e-8)
    a = np.abs(m / (np.sqrt(v) / c2 + eps))
    lo = dtype(np.quantile(a, q))
    want = np.flatnonzero(a >= lo)
    cap = max(0, want.size + slack)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "CHUNK_MIN", 1000)  # small arrays still take the threaded split
        count, idx, mo, vo = K.candidates(m, v, c2, eps, lo, cap, threads)
    assert count == want.size
    assert np.array_equal(idx, want[:cap])
    assert np.array_equal(mo, m[idx]) and np.array_equal(vo, v[idx])


@PROPS
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 9000),
    dtype=st.sampled_from(DTYPES),
    q=st.floats(0.0, 1.0),
    b1=st.sampled_from([0.9, 0.5, 0.3]),
    threads=st.sampled_from([1, 3]),
)
def test_candidates_update_the_moments_first(seed, n, dtype, q, b1, threads):
    """With `moments`, m and v become AdamW's update of them (within an ulp of torch's ops), and the marks are
    those of the updated moments."""
    m, v = moments(seed, n, dtype, False)
    g = (np.random.default_rng(seed + 1).standard_normal(n) * 1e-3).astype(dtype)
    b2 = 0.999
    tm, tv = torch.from_numpy(m.copy()), torch.from_numpy(v.copy())
    tm.lerp_(torch.from_numpy(g), 1 - b1)
    tv.mul_(b2).addcmul_(torch.from_numpy(g), torch.from_numpy(g), value=1 - b2)
    c2, eps = dtype(0.83), dtype(1e-8)
    lo = dtype(np.quantile(np.abs(tm.numpy() / (np.sqrt(tv.numpy()) / c2 + eps)), q))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "CHUNK_MIN", 1000)
        count, idx, mo, vo = K.candidates(m, v, c2, eps, lo, n, threads, (g, dtype(1 - b1), dtype(b2), dtype(1 - b2)))
    # each kernel operation rounds once, torch's fuse: within a few ulps of the terms' magnitudes
    e = 4 * np.finfo(dtype).eps
    m0, v0 = moments(seed, n, dtype, False)
    assert np.all(np.abs(m - tm.numpy()) <= e * (np.abs(m0) + np.abs(g)))
    assert np.all(np.abs(v - tv.numpy()) <= e * (v0 + g * g))
    want = np.flatnonzero(np.abs(m / (np.sqrt(v) / c2 + eps)) >= lo)  # on the moments as updated
    assert count == want.size and np.array_equal(idx, want)
    assert np.array_equal(mo, m[idx]) and np.array_equal(vo, v[idx])


@PROPS
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 5000),
    dtype=st.sampled_from(DTYPES),
    b1=st.sampled_from([0.9, 0.5, 0.3]),
    threads=st.sampled_from([1, 3]),
)
def test_update_moments_is_adamw_moments(seed, n, dtype, b1, threads):
    m, v = moments(seed, n, dtype, False)
    g = (np.random.default_rng(seed + 1).standard_normal(n) * 1e-3).astype(dtype)
    tm, tv, tg = torch.from_numpy(m.copy()), torch.from_numpy(v.copy()), torch.from_numpy(g)
    tm.lerp_(tg, 1 - b1)
    tv.mul_(0.999).addcmul_(tg, tg, value=1 - 0.999)
    m0, v0 = m.copy(), v.copy()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "CHUNK_MIN", 1000)
        K.update_moments(g, m, v, b1, 0.999, threads)
    e = 4 * np.finfo(dtype).eps
    assert np.all(np.abs(m - tm.numpy()) <= e * (np.abs(m0) + np.abs(g)))
    assert np.all(np.abs(v - tv.numpy()) <= e * (v0 + g * g))
    assert not np.array_equal(m, m0)  # the update happened in place


@PROPS
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 3000),
    k=st.integers(1, 3000),
    ties=st.booleans(),
    dtype=st.sampled_from(DTYPES),
)
def test_select_top_is_topk_with_ties_to_lower_index(seed, n, k, ties, dtype):
    k = min(k, n)
    rng = np.random.default_rng(seed)
    d = (rng.integers(-4, 5, n) * 0.5 if ties else rng.standard_normal(n)).astype(dtype)
    idx = np.sort(rng.choice(10 * n, n, replace=False)).astype(np.int64)
    a = np.abs(d)
    thr = np.partition(a, n - k)[n - k]
    S, dS = K.select_top(idx, d, a, thr, k)
    ref = np.sort(O.topk_indices(torch.from_numpy(a), k).numpy())
    assert np.array_equal(S, idx[ref]) and np.array_equal(dS, d[ref])


def reference_merge(theta, S, d, tau, alpha):
    """merge_update_'s election and update with Δ' = d on S and 0 elsewhere (dense torch ops)."""
    delta = torch.zeros_like(theta)
    delta[S] = d
    out = theta.clone()
    if tau is None:
        return out.add_(delta, alpha=1 - alpha)
    positive = (tau + delta) >= 0
    delta = delta * ((delta >= 0) == positive)
    out.add_(tau * ((tau >= 0) == positive), alpha=alpha)
    return out.add_(delta, alpha=1 - alpha)


@PROPS
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 2000),
    ps=st.floats(0.0, 1.0),
    pt=st.floats(0.0, 1.0),
    alpha=st.sampled_from([0.0, 0.3, 1e-7, 1.0]),
    kind=st.sampled_from(["sparse", "dense", "none"]),
)
def test_merge_equals_dense_election(seed, n, ps, pt, alpha, kind):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(n, dtype=torch.float64, generator=g)
    S = torch.nonzero(torch.rand(n, generator=g) < ps).flatten()
    d = torch.randn(S.numel(), dtype=torch.float64, generator=g) * 0.1
    d[torch.rand(S.numel(), generator=g) < 0.1] = 0.0  # zeros: the ">= 0" sign convention
    tau = torch.randn(n, dtype=torch.float64, generator=g) * 0.1 * (torch.rand(n, generator=g) < pt)
    want = reference_merge(theta, S, d, None if kind == "none" else tau, alpha)
    flat = theta.clone()
    if kind == "sparse":
        ti = torch.nonzero(tau).flatten()
        K.merge(flat.numpy(), S.numpy(), d.numpy(), ti.numpy(), tau[ti].numpy(), None, alpha)
    elif kind == "dense":
        flat.add_(tau, alpha=alpha)
        K.merge(flat.numpy(), S.numpy(), d.numpy(), None, None, tau.numpy(), alpha)
    else:
        K.merge(flat.numpy(), S.numpy(), d.numpy(), None, None, None, alpha)
    assert torch.allclose(flat, want, rtol=1e-14, atol=1e-15)


@PROPS
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 3000),
    pk=st.floats(0.0, 1.0),
    pt=st.floats(0.0, 1.0),
    alpha=st.sampled_from([0.0, 0.5, 1e-7]),
    with_tau=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_dare_apply_equals_torch_index_path(seed, n, pk, pt, alpha, with_tau, dtype):
    """θ += α·τ on τ's support, then θ[kept] += factor·m/(√v/c2 + ε), kept in any order: as the torch ops do."""
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(n, generator=g, dtype=dtype)
    m = torch.randn(n, generator=g, dtype=dtype) * 1e-3
    v = torch.rand(n, generator=g, dtype=dtype) * 1e-6
    kept = torch.nonzero(torch.rand(n, generator=g) < pk).flatten()
    kept = kept[torch.randperm(kept.numel(), generator=g)]
    ti = torch.nonzero(torch.rand(n, generator=g) < pt).flatten()
    tv = torch.randn(ti.numel(), generator=g, dtype=dtype) * 1e-2
    c2, eps, factor = 0.7, 1e-8, -1e-3
    want = theta.clone()
    if with_tau:
        want.index_add_(0, ti, tv, alpha=alpha)
    want.index_add_(0, kept, m[kept] / (v[kept].sqrt() / c2).add_(eps), alpha=factor)
    got = theta.clone()
    K.dare_apply(
        got.numpy(),
        m.numpy(),
        v.numpy(),
        kept.numpy(),
        c2,
        eps,
        factor,
        ti.numpy() if with_tau else None,
        tv.numpy() if with_tau else None,
        alpha,
    )
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    assert torch.allclose(got, want, rtol=tol, atol=tol)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    rows=st.integers(128, 300),
    cols=st.integers(128, 300),
    p=st.sampled_from([0.001, 0.01, 0.05, 0.3]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    ties=st.booleans(),
    steps=st.integers(1, 4),
)
def test_top_update_support_exact_over_steps(seed, rows, cols, p, dtype, ties, steps):
    """Over several steps on one moment buffer (so the previous threshold is reused): exactly the full
    top-k set (ties to the lower index) and Δ there bit for bit, and the candidate path answers."""
    assert rows * cols >= O.SELECT_MIN_N
    g = torch.Generator().manual_seed(seed)
    state = O.SelectionState()
    m = torch.empty(rows, cols, dtype=dtype)
    v = torch.empty(rows, cols, dtype=dtype)
    for t in range(1, steps + 1):
        if ties:
            m.copy_(torch.randint(-3, 4, (rows, cols), generator=g) * 0.25)
            v.fill_(1.0)
        else:
            m.copy_(torch.randn(rows, cols, generator=g, dtype=dtype) * 1e-3)
            v.copy_(torch.rand(rows, cols, generator=g, dtype=dtype) * 1e-6)
        c2, bc1 = (1 - 0.999**t) ** 0.5, 1 - 0.9**t
        scale = -1e-3 / bc1
        k = int(p * m.numel())
        delta = (m / (v.sqrt() / c2).add_(1e-8)).mul_(scale).view(-1)
        want = torch.sort(O.topk_indices(delta.abs(), k)).values
        S, d = O.top_update_support(m, v, c2, 1e-8, scale, k, state)
        assert torch.equal(S, want)
        assert torch.equal(d, delta[want])
    if not ties:
        assert state.selected["candidates"] > 0


def test_without_numba_the_torch_path_gives_the_same_step(monkeypatch):
    """With the kernels unavailable, the OnTIES step falls back to torch ops and lands on the same weights."""
    g = torch.Generator().manual_seed(3)
    n = O.SELECT_MIN_N * 3
    th, gr = torch.randn(n, generator=g), torch.randn(n, generator=g)
    m0, v0 = torch.randn(n, generator=g) * 0.1, torch.rand(n, generator=g) * 0.01
    tau = torch.randn(n, generator=g) * 0.01
    tau = tau * O.magnitude_mask(tau, 0.02)
    nz = torch.nonzero(tau).flatten()
    kw = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, p=0.02, alpha=0.3, tau=O.SparseTau(nz, tau[nz]))
    assert native.kernels() is not None
    a, ma, va = th.clone(), m0.clone(), v0.clone()
    state = O.SelectionState()
    O.onties_sparse_update_(a, gr, ma, va, 5, state=state, **kw)
    assert state.selected["candidates"] == 1
    monkeypatch.setattr(native, "KERNELS", False)
    assert native.kernels() is None
    b, mb, vb = th.clone(), m0.clone(), v0.clone()
    O.onties_sparse_update_(b, gr, mb, vb, 5, state=O.SelectionState(), **kw)
    # the compiled moment update rounds each operation; torch's kernels fuse multiply-adds
    assert torch.allclose(ma, mb, rtol=0, atol=1e-6) and torch.allclose(va, vb, rtol=1e-6, atol=1e-9)
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("threads", [1, 2])
def test_candidates_threaded_on_a_large_tensor(threads):
    """The real chunk size (CHUNK_MIN) and the pool: the same answer with one thread or two."""
    n = K.CHUNK_MIN * 2 + 12345
    m, v = moments(9, n, np.float32, False)
    c2, eps = np.float32(0.9), np.float32(1e-8)
    a = np.abs(m / (np.sqrt(v) / c2 + eps))
    lo = np.float32(np.quantile(a, 0.99))
    count, idx, mo, vo = K.candidates(m, v, c2, eps, lo, n, threads)
    want = np.flatnonzero(a >= lo)
    assert count == want.size and np.array_equal(idx, want) and np.array_equal(mo, m[want])


@PROPS
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(O.SELECT_MIN_N, 60000),
    p=st.floats(1e-4, 0.9),
    ties=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_topk_values_equal_torch_topk(seed, n, p, ties, dtype):
    """The compiled top-k values (through the sampled threshold, or torch's when that misses) are torch.topk's."""
    g = torch.Generator().manual_seed(seed)
    a = (torch.randint(0, 6, (n,), generator=g) * 0.5).to(dtype) if ties else torch.rand(n, generator=g, dtype=dtype)
    k = max(1, int(p * n))
    got = torch.sort(O.topk_values(a, k)).values
    want = torch.sort(torch.topk(a, k, sorted=False).values).values
    assert torch.equal(got, want)


def test_topk_values_takes_the_compiled_path(monkeypatch):
    calls = []
    real = K.top_values
    monkeypatch.setattr(K, "top_values", lambda *a: calls.append(1) or real(*a))
    a = torch.rand(100_000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.sort(O.topk_values(a, 1000)).values, torch.sort(torch.topk(a, 1000).values).values)
    assert calls == [1]
    # the magnitude masks use it: exactly k kept, ties to the lower index
    m = O.magnitude_mask(a.view(250, 400), 0.01)
    assert int(m.sum()) == 1000 and len(calls) == 2
