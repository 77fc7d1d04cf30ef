"""Host memory of loading a checkpoint under FSDP on gloo ranks (CPU): every rank reading the full checkpoint
and sharding it (`from_pretrained` + `shard_model`, the usual way) against rank 0 alone reading it and
broadcasting the shards (`trainer._load` → `sharding.shard_from_rank0`).

Run: $VENV/bin/python trainer-py/bench/fsdp_load.py [--world 2] [--hidden 1024 --layers 12 --vocab 32000]
Prints the peak resident memory above each rank's memory before loading (VmHWM; the process imports torch and
transformers first) for rank 0, the largest of the others, and all ranks together (one machine's host memory),
and the load time, with ratios of rank-0-only to every-rank loading.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process. Not ru_maxrss: Linux carries it across exec, so a
    spawned rank would start from the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def worker(rank: int, init: str, path: str, mode: str, out: str, world: int) -> None:
    import transformers  # noqa: F401  (imported before the baseline, as in a trainer process)

    from sfmed_trainer import sharding as S
    from sfmed_trainer.model_io import load_causal

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    base = _status_mb("VmRSS")
    dist.barrier()
    t = time.perf_counter()
    if mode == "every rank":
        m = S.shard_model(load_causal(path, 0.0), torch.device("cpu"))
    else:
        m = S.shard_from_rank0(load_causal(path, 0.0, empty=rank != 0), torch.device("cpu"))
    dist.barrier()
    secs = time.perf_counter() - t
    peak = _status_mb("VmHWM")
    with open(f"{out}.{rank}", "w") as f:
        f.write(f"{peak - base} {secs} {_status_mb('VmRSS') - base}")
    del m
    dist.barrier()
    dist.destroy_process_group()
    S.exit_rank(0)


def main() -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument(
        "--checkpoint-dtype",
        choices=["bf16", "fp32"],
        default="bf16",
        help="how the checkpoint is stored (Qwen2.5's are bf16); the model always loads in fp32",
    )
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--vocab", type=int, default=32000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cfg = Qwen2Config(
            vocab_size=a.vocab,
            hidden_size=a.hidden,
            intermediate_size=a.hidden * 11 // 4,
            num_hidden_layers=a.layers,
            num_attention_heads=max(1, a.hidden // 64),
            num_key_value_heads=max(1, a.hidden // 256),
            tie_word_embeddings=False,
        )
        model = Qwen2ForCausalLM(cfg)
        n = sum(p.numel() for p in model.parameters())
        if a.checkpoint_dtype == "bf16":
            model = model.to(torch.bfloat16)
        model.save_pretrained(os.path.join(d, "m"))
        del model
        rows = {}
        for mode in ("every rank", "rank 0 only"):
            out = os.path.join(d, mode.replace(" ", "_"))
            mp.spawn(
                worker,
                args=(f"file://{d}/store-{len(rows)}", os.path.join(d, "m"), mode, out, a.world),
                nprocs=a.world,
                join=True,
            )
            rows[mode] = [tuple(map(float, open(f"{out}.{r}").read().split())) for r in range(a.world)]
    print(
        f"# {a.world} gloo ranks, {n / 1e6:.0f}M parameters ({n * 4 / 2**20:.0f} MiB in fp32), "
        f"{a.checkpoint_dtype} checkpoint"
    )
    print("| loading | rank 0 peak MiB | other ranks' peak MiB (max) | all ranks MiB | seconds |")
    print("|---|---|---|---|---|")
    stats = {}
    for mode, r in rows.items():
        stats[mode] = (r[0][0], max(x[0] for x in r[1:]), sum(x[0] for x in r), max(x[1] for x in r))
        print(f"| {mode} | " + " | ".join(f"{v:.0f}" for v in stats[mode][:3]) + f" | {stats[mode][3]:.2f} |")
    e, o = stats["every rank"], stats["rank 0 only"]
    print("| rank 0 only ÷ every rank | " + " | ".join(f"{x / y:.2f}" for x, y in zip(o, e)) + " |")


if __name__ == "__main__":
    main()
