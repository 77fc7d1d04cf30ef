import json
import math
import sys
from pathlib import Path

import pytest
import torch

from sfmed_trainer.optim import OnlineMergeAdamW, compute_tau, magnitude_mask, merge_update_

HERE = Path(__file__).resolve().parent


def _models(seed=0):
    torch.manual_seed(seed)
    a = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    b = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("foreach", [False, None])
def test_ondare_p1_alpha0_equals_adamw_bitwise(foreach):
    a, b = _models()
    oa = torch.optim.AdamW(a.parameters(), lr=3e-3, weight_decay=0.05, foreach=foreach)
    ob = OnlineMergeAdamW(b.parameters(), lr=3e-3, weight_decay=0.05, method="ondare", p=1.0, alpha=0.0)
    # a nonzero tau must not matter with alpha = 0
    ob.set_tau({p: torch.full_like(p, 0.5) for p in b.parameters()})
    g = torch.Generator().manual_seed(3)
    for _ in range(25):
        x = torch.randn(8, 12, generator=g)
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def _adam_delta(theta, g, m0, v0, step, lr, b1=0.9, b2=0.999, eps=1e-8):
    m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m0, g)]
    v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v0, g)]
    bc1, bc2 = 1 - b1**step, 1 - b2**step
    d = [-(lr / bc1) * mi / (math.sqrt(vi) / math.sqrt(bc2) + eps) for mi, vi in zip(m, v)]
    return d, m, v


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_ondare_one_step_by_hand():
    theta, g, tau = [1.0, -2.0, 0.5], [0.1, -0.2, 0.3], [0.2, -0.1, 0.05]
    mask, p, alpha, lr = [1.0, 0.0, 1.0], 0.5, 0.3, 0.01
    d, m, v = _adam_delta(theta, g, [0, 0, 0], [0, 0, 0], 1, lr)
    expected = [th + alpha * ta + (1 - alpha) * di * mk / p for th, ta, di, mk in zip(theta, tau, d, mask)]
    th, mm, vv = _t(theta), _t([0, 0, 0]), _t([0, 0, 0])
    merge_update_(
        th,
        _t(g),
        mm,
        vv,
        1,
        lr=lr,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        method="ondare",
        p=p,
        alpha=alpha,
        tau=_t(tau),
        mask=_t(mask),
    )
    assert th.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert mm.tolist() == pytest.approx(m, rel=1e-12) and vv.tolist() == pytest.approx(v, rel=1e-12)
    # the dropped coordinate moved only by alpha * tau
    assert th[1].item() == pytest.approx(theta[1] + alpha * tau[1], rel=1e-12)


def test_onties_one_step_by_hand():
    theta, g = [0.3, -0.7, 1.1], [0.4, -0.05, -0.3]
    m0, v0 = [0.05, -0.01, 0.02], [0.001, 0.002, 0.0005]
    tau = [0.02, 0.03, -0.01]
    p, alpha, lr, step = 2 / 3, 0.25, 0.01, 2
    d, m, v = _adam_delta(theta, g, m0, v0, step, lr)
    # trim: keep the int(p*3) = 2 largest |delta|
    keep = sorted(range(3), key=lambda i: -abs(d[i]))[:2]
    dt = [d[i] if i in keep else 0.0 for i in range(3)]
    sgn = lambda x: (x > 0) - (x < 0)
    elected = [sgn(a + b) or 1 for a, b in zip(tau, dt)]
    tau_k = [a if sgn(a) == e else 0.0 for a, e in zip(tau, elected)]
    d_k = [b if sgn(b) == e else 0.0 for b, e in zip(dt, elected)]
    expected = [th + alpha * a + (1 - alpha) * b for th, a, b in zip(theta, tau_k, d_k)]
    # the case exercises a sign conflict that tau wins (coordinate 1: delta > 0 > ... or the reverse)
    assert any(b != 0 and sgn(b) != e for b, e in zip(dt, elected)) or any(
        a != 0 and sgn(a) != e for a, e in zip(tau, elected)
    )
    th = _t(theta)
    trace = {}
    merge_update_(
        th,
        _t(g),
        _t(m0),
        _t(v0),
        step,
        lr=lr,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        method="onties",
        p=p,
        alpha=alpha,
        tau=_t(tau),
        mask=None,
        trace=trace,
    )
    assert trace["mask"].tolist() == [1.0 if i in keep else 0.0 for i in range(3)]
    assert th.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_parity_fixture_is_reproduced():
    sys.path.insert(0, str(HERE.parent / "scripts"))
    import make_parity_fixtures as mk

    committed = json.loads((HERE / "fixtures" / "parity.json").read_text(encoding="utf-8"))
    fresh = json.loads(json.dumps(mk.build()))
    assert committed["header"] == fresh["header"]
    assert (
        len(committed["dpo"]) == len(fresh["dpo"]) >= 8
        and len(committed["online_merge"]) == len(fresh["online_merge"]) >= 6
    )
    assert {c["loss_type"] for c in committed["dpo"]} == {"sigmoid", "ipo", "hinge", "robust"}
    assert {c["method"] for c in committed["online_merge"]} == {"ondare", "onties"}

    def close(a, b, path="$"):
        if isinstance(a, dict):
            assert a.keys() == b.keys(), path
            for k in a:
                close(a[k], b[k], f"{path}.{k}")
        elif isinstance(a, list):
            assert len(a) == len(b), path
            for i, (x, y) in enumerate(zip(a, b)):
                close(x, y, f"{path}[{i}]")
        elif isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-12, abs=1e-15), path
        else:
            assert a == b, path

    close(committed, fresh)


def test_online_merge_p1_accumulates_tau_linearly():
    """p = 1, alpha > 0: theta_t - theta_0 = sum (1-alpha)*delta_t + t*alpha*tau (weight decay 0)."""
    a, b = _models(1)
    tau = {p: torch.randn_like(p) * 1e-3 for p in b.parameters()}
    ob = OnlineMergeAdamW(b.parameters(), lr=1e-3, method="ondare", p=1.0, alpha=0.2)
    ob.set_tau(tau)
    start = [p.detach().clone() for p in b.parameters()]
    x = torch.randn(8, 12)
    steps = 5
    deltas = [torch.zeros_like(p) for p in b.parameters()]
    for _ in range(steps):
        ob.zero_grad()
        b(x).pow(2).mean().backward()
        before = [p.detach().clone() for p in b.parameters()]
        ob.step()
        for i, (p, q) in enumerate(zip(b.parameters(), before)):
            deltas[i] += p.detach() - q - 0.2 * tau[p]
    for p, s, dsum in zip(b.parameters(), start, deltas):
        assert torch.allclose(p - s, dsum + steps * 0.2 * tau[p], atol=1e-6)


def test_masks_reproducible_and_resumable():
    def run(split: bool):
        a, _ = _models(2)
        o = OnlineMergeAdamW(a.parameters(), lr=1e-2, method="ondare", p=0.3, alpha=0.0, seed=7)
        x = torch.randn(4, 12, generator=torch.Generator().manual_seed(0))
        for i in range(6):
            if split and i == 3:
                sd = o.state_dict()
                o = OnlineMergeAdamW(a.parameters(), lr=1e-2, method="ondare", p=0.3, alpha=0.0, seed=7)
                o.load_state_dict(sd)
            o.zero_grad()
            a(x).pow(2).mean().backward()
            o.step()
        return [p.detach().clone() for p in a.parameters()]

    for p, q in zip(run(False), run(True)):
        assert torch.equal(p, q)


def test_magnitude_mask_keeps_top_k():
    x = torch.tensor([0.1, -5.0, 2.0, -0.3, 4.0])
    assert magnitude_mask(x, 0.4).tolist() == [0, 1, 0, 0, 1]
    assert magnitude_mask(x, 1.0).tolist() == [1] * 5


def test_compute_tau_streams_checkpoint_difference(models_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(models_dir["sft"])
    base = AutoModelForCausalLM.from_pretrained(models_dir["base"])
    named = list(model.named_parameters())
    tau, missing = compute_tau(
        named, str(models_dir["sft"]), str(models_dir["base"]), method="ondare", p=1.0, clip_tau=0.02
    )
    assert not missing and len(tau) == len(named)
    bp = dict(base.named_parameters())
    for n, p in named:
        assert torch.allclose(tau[p], (p - bp[n]).clamp(-0.02, 0.02), atol=1e-7)
    # DARE on tau: a fixed mask reproducible from the seed, survivors scaled by 1/p
    t1, _ = compute_tau(
        named, str(models_dir["sft"]), str(models_dir["base"]), method="ondare", p=0.25, clip_tau=10, seed=5
    )
    t2, _ = compute_tau(
        named, str(models_dir["sft"]), str(models_dir["base"]), method="ondare", p=0.25, clip_tau=10, seed=5
    )
    n0, p0 = named[0]
    assert torch.equal(t1[p0], t2[p0])
    kept = t1[p0] != 0
    assert 0.15 < kept.float().mean().item() < 0.35
    assert torch.allclose(t1[p0][kept], (p0 - bp[n0])[kept] / 0.25, atol=1e-6)
    # rescale l1 leaves ondare's tau as the official code builds it (x1/p, clamp): its L1 rescale is the step's
    t4, _ = compute_tau(
        named,
        str(models_dir["sft"]),
        str(models_dir["base"]),
        method="ondare",
        p=0.25,
        clip_tau=10,
        seed=5,
        rescale="l1",
    )
    assert torch.equal(t4[p0], t1[p0])
    # TIES on tau: magnitude top-k
    t3, _ = compute_tau(named, str(models_dir["sft"]), str(models_dir["base"]), method="onties", p=0.1)
    assert (t3[p0] != 0).sum().item() == int(0.1 * p0.numel())


def test_bernoulli_indices_is_a_bernoulli_draw():
    from sfmed_trainer.optim import bernoulli_indices

    g = torch.Generator().manual_seed(0)
    n, p = 200_000, 0.01
    counts = [len(bernoulli_indices(n, p, g)) for _ in range(5)]
    sd = math.sqrt(n * p * (1 - p))
    assert all(abs(c - n * p) < 5 * sd for c in counts)
    idx = bernoulli_indices(n, p, g)
    assert idx.min() >= 0 and idx.max() < n and bool((idx[1:] > idx[:-1]).all())
    # every position is equally likely: first and second half get about the same share
    half = (idx < n // 2).sum().item()
    assert abs(half - len(idx) / 2) < 5 * math.sqrt(len(idx) / 4)


def test_sparse_ondare_path_equals_dense_with_same_mask():
    from sfmed_trainer.optim import SparseTau, bernoulli_indices, ondare_sparse_update_

    g = torch.Generator().manual_seed(1)
    n = 400
    th, gr = torch.randn(n, dtype=torch.float64), torch.randn(n, dtype=torch.float64)
    m0, v0 = torch.randn(n, dtype=torch.float64) * 0.1, torch.rand(n, dtype=torch.float64) * 0.01
    tau = torch.randn(n, dtype=torch.float64) * 0.01 * (torch.rand(n, dtype=torch.float64) < 0.05)
    kept = bernoulli_indices(n, 0.05, g)
    assert len(kept) > 0
    mask = torch.zeros(n, dtype=torch.float64)
    mask[kept] = 1
    a, ma, va = th.clone(), m0.clone(), v0.clone()
    merge_update_(
        a,
        gr,
        ma,
        va,
        3,
        lr=1e-2,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.01,
        method="ondare",
        p=0.05,
        alpha=0.2,
        tau=tau,
        mask=mask,
    )
    b, mb, vb = th.clone(), m0.clone(), v0.clone()
    nz = torch.nonzero(tau).flatten()
    ondare_sparse_update_(
        b,
        gr,
        mb,
        vb,
        3,
        lr=1e-2,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.01,
        p=0.05,
        alpha=0.2,
        tau=SparseTau(nz, tau[nz]),
        kept=kept,
        rescale="inverse_keep",
    )
    # the index path's compiled moment update rounds each operation once (torch's kernels fuse): ulp-close
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-15)
    assert torch.allclose(ma, mb, rtol=0, atol=1e-16) and torch.allclose(va, vb, rtol=1e-15, atol=0)


def test_small_p_ondare_stores_sparse_tau_and_trains(models_dir):
    from transformers import AutoModelForCausalLM

    from sfmed_trainer.optim import SparseTau

    model = AutoModelForCausalLM.from_pretrained(models_dir["sft"])
    base = dict(AutoModelForCausalLM.from_pretrained(models_dir["base"]).named_parameters())
    named = list(model.named_parameters())
    tau, _ = compute_tau(
        named, str(models_dir["sft"]), str(models_dir["base"]), method="ondare", p=0.05, clip_tau=10, seed=3
    )
    n0, p0 = named[0]
    st = tau[p0]
    assert isinstance(st, SparseTau) and 0.02 < len(st.indices) / p0.numel() < 0.08
    assert torch.allclose(st.values, (p0 - base[n0]).detach().view(-1)[st.indices] / 0.05, atol=1e-6)
    opt = OnlineMergeAdamW(model.parameters(), lr=1e-3, method="ondare", p=0.05, alpha=0.1, seed=0)
    opt.set_tau(tau)
    before = p0.detach().clone()
    ids = torch.randint(0, model.config.vocab_size, (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    moved = (p0.detach() - before).view(-1) != 0
    # only kept Adam entries and tau's support move
    assert 0 < moved.float().mean().item() < 0.2


@pytest.mark.parametrize("with_tau,wd", [(True, 0.0), (True, 0.1), (False, 0.0)])
def test_sparse_onties_path_equals_dense(with_tau, wd):
    from sfmed_trainer.optim import onties_sparse_update_

    g = torch.Generator().manual_seed(4)
    n = 300
    th, gr = torch.randn(n, dtype=torch.float64, generator=g), torch.randn(n, dtype=torch.float64, generator=g)
    m0 = torch.randn(n, dtype=torch.float64, generator=g) * 0.1
    v0 = torch.rand(n, dtype=torch.float64, generator=g) * 0.01
    tau = torch.randn(n, dtype=torch.float64, generator=g) * 0.01 if with_tau else None
    kw = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd, p=0.1, alpha=0.3, tau=tau)
    a, ma, va = th.clone(), m0.clone(), v0.clone()
    merge_update_(a, gr, ma, va, 5, method="onties", mask=None, **kw)
    b, mb, vb = th.clone(), m0.clone(), v0.clone()
    onties_sparse_update_(b, gr, mb, vb, 5, **kw)
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-15) and torch.equal(ma, mb)
    moved = (a - th * (1 - 1e-2 * wd)).abs() > 1e-15
    assert moved.sum().item() == (n if with_tau else int(0.1 * n))  # tau moves everything; alone, only the top-k


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_top_update_support_equals_full_topk(dtype):
    """The sampled-threshold selection (and its reuse of the last threshold) returns exactly the full top-k
    set with ties to the lower index, and Δ at it bit for bit, including massive ties and hint misses."""
    from sfmed_trainer.optim import SELECT_MIN_N, SelectionState, top_update_support, topk_indices

    g = torch.Generator().manual_seed(11)
    shape = (130, 400)
    assert shape[0] * shape[1] >= SELECT_MIN_N
    sc = SelectionState()
    m = torch.randn(shape, generator=g, dtype=dtype) * 1e-3
    v = torch.rand(shape, generator=g, dtype=dtype) * 1e-6
    cases = []
    for p in (0.001, 0.01, 0.2, 0.7):
        cases += [
            (p, m, v),
            (p, m * 1.01 + 1e-6, v),
            (p, m * torch.where(torch.arange(shape[1]) < 200, 30.0, 1.0).to(dtype), v),
        ]
    ties = (torch.randint(-3, 4, shape, generator=g) * 0.25).to(dtype)  # seven magnitudes: huge ties
    cases += [(0.01, ties, torch.ones(shape, dtype=dtype)), (0.3, ties, torch.ones(shape, dtype=dtype))]
    buf = torch.empty(shape, dtype=dtype)  # one moment buffer, as in an optimizer: the last threshold is reused
    for p, mm, vv in cases:
        mm = buf.copy_(mm)
        denom = (vv.sqrt() / 0.7).add_(1e-8)
        scale = -1e-3 / 0.19
        k = int(p * mm.numel())
        delta = (mm / denom).mul_(scale).view(-1)
        want = torch.sort(topk_indices(delta.abs(), k)).values
        S, d = top_update_support(mm.contiguous(), vv.contiguous(), 0.7, 1e-8, scale, k, sc)
        order = torch.argsort(S)
        assert torch.equal(S[order], want), (p, dtype)
        assert torch.equal(d[order], delta[want])


def test_onties_sparse_tau_equals_dense_tau_on_large_tensor():
    from sfmed_trainer.optim import SELECT_MIN_N, SelectionState, SparseTau, onties_sparse_update_

    g = torch.Generator().manual_seed(5)
    n = SELECT_MIN_N * 2
    th = torch.randn(n, dtype=torch.float64, generator=g)
    gr = torch.randn(n, dtype=torch.float64, generator=g)
    m0 = torch.randn(n, dtype=torch.float64, generator=g) * 0.1
    v0 = torch.rand(n, dtype=torch.float64, generator=g) * 0.01
    tau = torch.randn(n, dtype=torch.float64, generator=g) * 0.01
    tau = tau * magnitude_mask(tau, 0.02)
    nz = torch.nonzero(tau).flatten()
    kw = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, p=0.02, alpha=0.3)
    a, ma, va = th.clone(), m0.clone(), v0.clone()
    merge_update_(a, gr, ma, va, 5, method="onties", mask=None, tau=tau, **kw)
    b, mb, vb = th.clone(), m0.clone(), v0.clone()
    state = SelectionState()
    onties_sparse_update_(b, gr, mb, vb, 5, tau=SparseTau(nz, tau[nz]), state=state, **kw)
    assert state.selected["candidates"] == 1  # the compiled path, whose moment update rounds each operation
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-15)
    assert torch.allclose(ma, mb, rtol=0, atol=1e-15) and torch.allclose(va, vb, rtol=1e-14, atol=0)


def _ts_ondare_l1(theta, grad, m, v, tau, mask, *, step, lr, p, alpha, wd, eps, clip_val, betas=(0.9, 0.999)):
    """packages/dpo-merge's onlineMergeStep (method ondare, rescale true, adamVariant torch) in plain Python
    floats, line for line: the reference the trainer's l1 step must equal."""
    b1, b2 = betas
    n = len(theta)
    theta, m, v = list(theta), list(m), list(v)
    bc1, bc2 = 1 - b1**step, 1 - b2**step
    if wd:
        theta = [x * (1 - lr * wd) for x in theta]
    delta = []
    for i in range(n):
        m[i] = m[i] * b1 + (1 - b1) * grad[i]
        v[i] = v[i] * b2 + (1 - b2) * grad[i] * grad[i]
        delta.append(-(lr / bc1) * (m[i] / (math.sqrt(v[i]) / math.sqrt(bc2) + eps)))
    before = sum(abs(d) for d in delta)
    keep = 1 - (1 - p)
    delta = [d / keep if mask[i] else 0.0 for i, d in enumerate(delta)]
    if before >= 1e-8:
        s = before / (sum(abs(d) for d in delta) + eps)
        delta = [min(clip_val, max(-clip_val, d * s)) for d in delta]
    return [t + alpha * tau[i] + (1 - alpha) * delta[i] for i, t in enumerate(theta)], delta


@pytest.mark.parametrize("clip_val", [1.0, 3e-3])
def test_ondare_l1_rescale_matches_the_reference_step(clip_val):
    """rescale "l1" (the official OnDARE rescale=True): Δ' scaled back to ‖Δ‖₁ and clamped to ±clip_val, the
    same on the dense path, the index path and through OnlineMergeAdamW."""
    from sfmed_trainer.optim import SparseTau, bernoulli_indices, ondare_sparse_update_

    g = torch.Generator().manual_seed(11)
    n, p, step, lr, alpha, wd = 300, 0.05, 3, 5e-3, 1e-3, 0.01
    th, gr = torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    m0 = torch.randn(n, generator=g, dtype=torch.float64) * 0.1
    v0 = torch.rand(n, generator=g, dtype=torch.float64) * 0.01
    tau = (
        torch.randn(n, generator=g, dtype=torch.float64)
        * 0.01
        * (torch.rand(n, generator=g, dtype=torch.float64) < 0.05)
    )
    kept = bernoulli_indices(n, p, torch.Generator().manual_seed(2))
    mask = torch.zeros(n, dtype=torch.float64)
    mask[kept] = 1
    want, d_ref = _ts_ondare_l1(
        th.tolist(),
        gr.tolist(),
        m0.tolist(),
        v0.tolist(),
        tau.tolist(),
        mask.tolist(),
        step=step,
        lr=lr,
        p=p,
        alpha=alpha,
        wd=wd,
        eps=1e-8,
        clip_val=clip_val,
    )
    clamped = sum(abs(abs(d) - clip_val) < 1e-15 for d in d_ref)
    assert (clamped > 0) == (clip_val < 1)  # the small clip_val case exercises the clamp
    kw = dict(lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd, p=p, alpha=alpha, clip_val=clip_val)
    a = th.clone()
    merge_update_(a, gr, m0.clone(), v0.clone(), step, method="ondare", tau=tau, mask=mask, rescale="l1", **kw)
    assert a.tolist() == pytest.approx(want, rel=1e-12, abs=1e-15)
    b = th.clone()
    nz = torch.nonzero(tau).flatten()
    ondare_sparse_update_(
        b, gr, m0.clone(), v0.clone(), step, tau=SparseTau(nz, tau[nz]), kept=kept, rescale="l1", **kw
    )
    assert b.tolist() == pytest.approx(want, rel=1e-12, abs=1e-15)
    # the optimizer takes the index path at this p and draws the same kept set from its seeded generator
    prm = torch.nn.Parameter(th.clone())
    opt = OnlineMergeAdamW(
        [prm], lr=lr, weight_decay=wd, method="ondare", p=p, alpha=alpha, rescale="l1", clip_val=clip_val, seed=2
    )
    opt.set_tau({prm: tau.clone()})
    opt.state[prm].update(step=torch.tensor(float(step - 1)), exp_avg=m0.clone(), exp_avg_sq=v0.clone())
    prm.grad = gr.clone()
    opt.step()
    assert prm.detach().tolist() == pytest.approx(want, rel=1e-12, abs=1e-15)
