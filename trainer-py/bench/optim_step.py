"""Step time and memory of the online merging optimizers against AdamW.

Run: bash trainer-py/scripts/ensure-env.sh; $VENV/bin/python trainer-py/bench/optim_step.py [--params 25e6] [--steps 20]
Measures optimizer.step() only (fixed random gradients), on parameter shapes of a Qwen2-like block stack,
and the optimizer's own memory: Adam moments + the stored task vector τ as compute_tau stores it (a sparse τ
counts its indices and values; per-step temporaries and scratch buffers are not counted, as AdamW's are not).
Every optimizer gets the same weight decay (--wd, default 0). Prints a table with ratios against AdamW.
On a shared machine pin OMP_NUM_THREADS=1: oversubscribed threads make every number noise.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sfmed_trainer import optim as O  # noqa: E402
from sfmed_trainer.optim import SPARSE_P, OnlineMergeAdamW, SparseTau, bernoulli_indices  # noqa: E402


def make_params(total: float, hidden: int, device, dtype):
    shapes = []
    inter = hidden * 11 // 4
    per_layer = [(hidden, hidden), (hidden // 4, hidden), (hidden // 4, hidden), (hidden, hidden),
                 (inter, hidden), (inter, hidden), (hidden, inter), (hidden,), (hidden,)]
    n = 0
    while n < total:
        for s in per_layer:
            shapes.append(s)
            n += torch.Size(s).numel()
    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s, generator=g).to(device, dtype) * 0.02) for s in shapes]
    for p in params:
        p.grad = (torch.randn(p.shape, generator=g) * 1e-3).to(device, dtype)
    return params


def state_bytes(opt) -> int:
    b = 0
    for st in opt.state.values():
        for v in st.values():
            if torch.is_tensor(v):
                b += v.numel() * v.element_size()
    for v in getattr(opt, "tau", {}).values():
        if isinstance(v, SparseTau):
            b += v.indices.numel() * v.indices.element_size() + v.values.numel() * v.values.element_size()
        else:
            b += v.numel() * v.element_size()
    return b


def onties_tau(q: torch.Tensor, p: float, g: torch.Generator):
    """What compute_tau stores for onties: the top int(p·n) magnitudes of τ, sparse at small keep rates."""
    t = torch.randn(q.shape, generator=g, device=q.device, dtype=q.dtype) * 1e-3
    sparse_p = getattr(O, "SPARSE_TAU_ONTIES_P", 0.0)
    if p < 1:
        t.mul_(O.magnitude_mask(t, p))
    if p <= sparse_p:
        flat = t.view(-1)
        idx = torch.nonzero(flat).flatten()
        return SparseTau(idx, flat[idx].clone())
    return t


def make_opt(name: str, params, p: float, alpha: float, wd: float):
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-5, weight_decay=wd)
    opt = OnlineMergeAdamW(params, lr=1e-5, weight_decay=wd, method=name, p=p, alpha=alpha, seed=0)
    g = torch.Generator(device=params[0].device).manual_seed(1)
    if name == "ondare" and p <= SPARSE_P:
        # what compute_tau stores for a small keep rate: the fixed DARE support only
        tau = {}
        for q in params:
            idx = bernoulli_indices(q.numel(), p, g, q.device)
            tau[q] = SparseTau(idx, torch.randn(idx.numel(), device=q.device, dtype=q.dtype) * 1e-3 / p)
        opt.set_tau(tau)
    elif name == "onties":
        opt.set_tau({q: onties_tau(q, p, g) for q in params})
    else:
        opt.set_tau({q: torch.randn_like(q) * 1e-3 for q in params})
    return opt


def bench(names, params, steps: int, p: float, alpha: float, wd: float) -> dict[str, tuple[float, int]]:
    """Median step time and state bytes per optimizer. The optimizers share the parameters and take their
    steps in turn (one round = one step of each), so load changes on a shared machine hit all alike."""
    opts = {name: make_opt(name, params, p, alpha, wd) for name in names}
    for opt in opts.values():
        opt.step()  # warm-up (lazy state init)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(steps):
        for name, opt in opts.items():
            if params[0].is_cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            opt.step()
            if params[0].is_cuda:
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(times[name]), state_bytes(opts[name])) for name in names}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=float, default=25e6)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--p", type=float, default=0.01)
    ap.add_argument("--alpha", type=float, default=1e-7)
    ap.add_argument("--wd", type=float, default=0.0, help="weight decay, the same for every optimizer")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    params = make_params(a.params, a.hidden, torch.device(a.device), dtype)
    n = sum(q.numel() for q in params)
    print(f"# {n/1e6:.1f}M params in {len(params)} tensors, {a.device}, {a.dtype}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, p={a.p}, alpha={a.alpha}, wd={a.wd}, median of {a.steps} interleaved steps")
    res = bench(("adamw", "ondare", "onties"), params, a.steps, a.p, a.alpha, a.wd)
    rows = [(name, t, mem) for name, (t, mem) in res.items()]
    base_t, base_m = rows[0][1], rows[0][2]
    param_bytes = n * params[0].element_size()
    print(f"| optimizer | step ms | x adamw | state MB | state / params | x adamw memory |")
    print(f"|---|---|---|---|---|---|")
    for name, t, mem in rows:
        print(f"| {name} | {t*1e3:.1f} | {t/base_t:.2f} | {mem/2**20:.0f} | {mem/param_bytes:.2f} | {mem/base_m:.2f} |")


if __name__ == "__main__":
    main()
