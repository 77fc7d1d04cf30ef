"""OnTIES on dim-0 shards over 2 gloo ranks (CPU): the compiled sharded step one parameter at a time
(`onties_sharded_update_`, two all-gathers per parameter) and batched (`onties_sharded_many_`, as the
optimizer runs it: two all-gathers per batch) against the dense sharded trim (`merge_update_` with
`sharded_magnitude_mask`) and AdamW on the same shards.

Run: OMP_NUM_THREADS=1 $VENV/bin/python trainer-py/bench/sharded_onties.py [--steps 40] [--p 0.01]
Prints the median step time over the last 10 steps (and steps 2-11) on rank 0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def worker(rank: int, init: str, steps: int, p: float) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    from sfmed_trainer.optim import (
        SelectionState,
        SparseTau,
        magnitude_mask,
        merge_update_,
        onties_sharded_many_,
        onties_sharded_update_,
        sharded_magnitude_mask,
    )
    from sfmed_trainer.sharding import exit_rank

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    mesh = init_device_mesh("cpu", (2,))
    g = torch.Generator().manual_seed(0)
    kw = dict(lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, alpha=1e-7)
    items = []
    for shape in [(1408, 512), (512, 1408), (512, 512), (128, 512)] * 6:
        w = torch.randn(shape, generator=g) * 0.02
        dp, dpb = distribute_tensor(w, mesh, [Shard(0)]), distribute_tensor(w.clone(), mesh, [Shard(0)])
        tau = torch.randn(shape, generator=g) * 1e-3
        local = distribute_tensor(tau * magnitude_mask(tau, p), mesh, [Shard(0)]).to_local().contiguous()
        nz = torch.nonzero(local.view(-1)).flatten()
        zeros = lambda: torch.zeros_like(dp.to_local())  # noqa: E731
        items.append(
            dict(
                dp=dp,
                m=zeros(),
                v=zeros(),
                m2=zeros(),
                v2=zeros(),
                state=SelectionState(),
                dpb=dpb,
                mb=zeros(),
                vb=zeros(),
                state_b=SelectionState(),
                tau_sparse=SparseTau(nz, local.view(-1)[nz].clone()),
                tau_dense=local,
            )
        )
    params = [torch.nn.Parameter(it["dp"].to_local().clone()) for it in items]
    adamw = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)
    t_new, t_batched, t_old, t_adam = [], [], [], []

    def timed(out, fn):
        dist.barrier()
        t = time.perf_counter()
        fn()
        dist.barrier()
        out.append(time.perf_counter() - t)

    for step in range(1, steps + 1):
        grads = [torch.randn(it["dp"].to_local().shape, generator=g) * 1e-3 for it in items]
        timed(
            t_new,
            lambda: [
                onties_sharded_update_(
                    it["dp"].to_local(),
                    gr,
                    it["m"],
                    it["v"],
                    step,
                    p=p,
                    tau=it["tau_sparse"],
                    dprm=it["dp"],
                    state=it["state"],
                    **kw,
                )
                for it, gr in zip(items, grads)
            ],
        )
        timed(
            t_batched,
            lambda: onties_sharded_many_(
                [
                    dict(
                        param=it["dpb"].to_local(),
                        grad=gr,
                        exp_avg=it["mb"],
                        exp_avg_sq=it["vb"],
                        step=step,
                        p=p,
                        tau=it["tau_sparse"],
                        dprm=it["dpb"],
                        state=it["state_b"],
                        **kw,
                    )
                    for it, gr in zip(items, grads)
                ],
                mesh.get_group(),
                2,
            ),
        )
        timed(
            t_old,
            lambda: [
                merge_update_(
                    it["dp"].to_local(),
                    gr,
                    it["m2"],
                    it["v2"],
                    step,
                    method="onties",
                    p=p,
                    tau=it["tau_dense"],
                    mask=None,
                    rescale="none",
                    mask_fn=lambda d, dp=it["dp"]: sharded_magnitude_mask(d, p, dp),
                    **kw,
                )
                for it, gr in zip(items, grads)
            ],
        )
        for q, gr in zip(params, grads):
            q.grad = gr
        timed(t_adam, adamw.step)
    if rank == 0:
        med = lambda xs: statistics.median(xs) * 1e3  # noqa: E731
        n = sum(it["dp"].numel() for it in items)
        print(f"# 2 gloo ranks, {n / 1e6:.1f}M params in {len(items)} tensors, p={p}, one thread per rank")
        print(
            "| steps | compiled, per parameter ms | compiled, batched ms | dense trim ms | adamw ms | batched × adamw |"
        )
        print("|---|---|---|---|---|---|")
        for name, sl in (("2-11", slice(1, 11)), ("last 10", slice(-10, None))):
            row = [med(t[sl]) for t in (t_new, t_batched, t_old, t_adam)]
            print(f"| {name} | " + " | ".join(f"{x:.1f}" for x in row) + f" | {row[1] / row[3]:.2f} |")
    dist.barrier()
    dist.destroy_process_group()
    exit_rank(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--p", type=float, default=0.01)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(worker, args=(f"file://{os.path.join(d, 'store')}", a.steps, a.p), nprocs=2, join=True)


if __name__ == "__main__":
    main()
