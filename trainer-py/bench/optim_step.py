"""Step time and memory of the online merging optimizers against AdamW.

Run: bash trainer-py/scripts/ensure-env.sh; $VENV/bin/python trainer-py/bench/optim_step.py [--params 25e6] [--steps 20]
Measures optimizer.step() only (random gradients, fresh every round), on parameter shapes of a Qwen2-like
block stack,
and the optimizer's own memory: Adam moments + the stored task vector τ as compute_tau stores it (a sparse τ
counts its indices and values; per-step temporaries are not counted, as AdamW's are not).
Every optimizer gets the same weight decay (--wd, default 0). Prints a table with ratios against AdamW.
On a shared machine pin OMP_NUM_THREADS=1: oversubscribed threads make every number noise.
Ratios are against torch.optim.AdamW's default (what OnlineMergeAdamW extends); `adamw_fused` (fused=True)
is listed for reference. --warmup 30 measures steady state: in Adam's first steps the OnTIES selection's
reused threshold misses more often and a step costs a second pass. --hidden sets the tensor sizes: the
default 512 gives many small tensors, where per-tensor overheads weigh most; a 7B model's are 10-100× larger.
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
    per_layer = [
        (hidden, hidden),
        (hidden // 4, hidden),
        (hidden // 4, hidden),
        (hidden, hidden),
        (inter, hidden),
        (inter, hidden),
        (hidden, inter),
        (hidden,),
        (hidden,),
    ]
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
    if name == "adamw_fused":  # torch's one-kernel AdamW: not the default, shown for reference
        return torch.optim.AdamW(params, lr=1e-5, weight_decay=wd, fused=True)
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


def bench(
    names, params, steps: int, p: float, alpha: float, wd: float, warmup: int = 1
) -> dict[str, tuple[float, float, int]]:
    """Median step wall time, median step CPU time (process time: what a busy shared machine distorts
    least) and state bytes per optimizer. The optimizers share the parameters and take their
    steps in turn (one round = one step of each), so load changes on a shared machine hit all alike."""
    opts = {name: make_opt(name, params, p, alpha, wd) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    g = torch.Generator(device=params[0].device).manual_seed(2)
    for r in range(warmup + steps):
        # Fresh gradients every round (untimed): with one fixed gradient Adam's |Δ| tends to lr everywhere
        # and OnTIES's top-k degenerates into breaking near-ties.
        for q in params:
            q.grad.normal_(0, 1e-3, generator=g)
        for name, opt in opts.items():
            if params[0].is_cuda:
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            opt.step()
            if params[0].is_cuda:
                torch.cuda.synchronize()
            if r >= warmup:  # the first rounds initialise state (and let Adam's moments settle)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    return {
        name: (statistics.median(times[name]), statistics.median(cpu[name]), state_bytes(opts[name])) for name in names
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=float, default=25e6)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--p", type=float, default=0.01)
    ap.add_argument("--alpha", type=float, default=1e-7)
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    ap.add_argument("--wd", type=float, default=0.0, help="weight decay, the same for every optimizer")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    params = make_params(a.params, a.hidden, torch.device(a.device), dtype)
    n = sum(q.numel() for q in params)
    print(
        f"# {n / 1e6:.1f}M params in {len(params)} tensors, {a.device}, {a.dtype}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, p={a.p}, alpha={a.alpha}, wd={a.wd}, median of {a.steps} interleaved steps after {a.warmup}"
    )
    res = bench(("adamw", "adamw_fused", "ondare", "onties"), params, a.steps, a.p, a.alpha, a.wd, a.warmup)
    rows = [(name, t, c, mem) for name, (t, c, mem) in res.items()]
    base_t, base_c, base_m = rows[0][1], rows[0][2], rows[0][3]
    param_bytes = n * params[0].element_size()
    print("| optimizer | step ms | x adamw | CPU ms | x adamw (CPU) | state MB | state / params | x adamw memory |")
    print("|---|---|---|---|---|---|---|---|")
    for name, t, c, mem in rows:
        print(
            f"| {name} | {t * 1e3:.1f} | {t / base_t:.2f} | {c * 1e3:.1f} | {c / base_c:.2f} | {mem / 2**20:.0f} | "
            f"{mem / param_bytes:.2f} | {mem / base_m:.2f} |"
        )


if __name__ == "__main__":
    main()
