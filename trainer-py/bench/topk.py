"""Top-k values on CPU: sfmed_trainer.optim.topk_values (compiled pass over a sampled threshold) against
torch.topk, on |x| of normal random tensors, as the magnitude masks use it.

Run: OMP_NUM_THREADS=1 $VENV/bin/python trainer-py/bench/topk.py [--sizes 720896,11534336] [--p 0.01,0.1]
Prints the best of 5 runs of each and the ratio; the two answers are checked equal first.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sfmed_trainer.optim import topk_values  # noqa: E402


def best(fn, reps: int = 5) -> float:
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="720896,11534336")
    ap.add_argument("--p", default="0.01,0.1")
    a = ap.parse_args()
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, float32, best of 5")
    print("| elements | k | torch.topk ms | topk_values ms | speed-up |")
    print("|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for n in (int(x) for x in a.sizes.split(",")):
        x = torch.randn(n, generator=g).abs()
        for p in (float(q) for q in a.p.split(",")):
            k = int(p * n)
            want = torch.sort(torch.topk(x, k, sorted=False).values).values
            if not torch.equal(torch.sort(topk_values(x, k)).values, want):
                raise SystemExit(f"topk_values differs from torch.topk at n={n}, k={k}")
            t_torch = best(lambda: torch.topk(x, k, sorted=False))
            t_ours = best(lambda: topk_values(x, k))
            print(f"| {n:,} | {k:,} | {t_torch * 1e3:.1f} | {t_ours * 1e3:.1f} | {t_torch / t_ours:.1f}× |")


if __name__ == "__main__":
    main()
