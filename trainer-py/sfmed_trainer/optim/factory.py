"""The job's optimizer: torch's AdamW, or OnDARE/OnTIES with τ from the job's SFT and base checkpoints. The
built-in loop, the TRL engine and the ZeRO-3 inner optimizer (ds_merge.py) read their settings here."""

from __future__ import annotations

import torch

from ..events import log
from .optimizer import OnlineMergeAdamW
from .tau import compute_tau


def tau_seed(job) -> int:
    """The seed of τ's fixed mask (and of the masks of a one-process run): optimizer.seed, else train.seed."""
    o = job.optimizer
    return o.seed if o.seed is not None else job.train.seed


def merge_kwargs(job) -> dict:
    """The OnlineMergeAdamW/ZeroMergeAdamW keyword arguments the job decides (all but the seed)."""
    o, t = job.optimizer, job.train
    return dict(
        lr=t.lr, betas=o.betas, eps=o.eps, weight_decay=t.weight_decay, method=o.name, p=o.p, alpha=o.alpha,
        rescale=o.rescale,
    )  # fmt: skip


def tau_paths(job) -> tuple[str, str]:
    """(SFT checkpoint, base checkpoint) τ = θ_SFT − θ_base is read from."""
    return job.optimizer.sft_model or job.model, job.optimizer.base_model


def report_missing(missing: list[str]) -> None:
    if missing:
        log(f"tau: {len(missing)} tensors missing from a checkpoint, treated as zero: {missing[:5]}")


def build_optimizer(job, model, rank: int = 0, sharded: bool = False):
    """torch.optim.AdamW, or OnlineMergeAdamW with τ set when the job names a base model. `sharded` (FSDP):
    each rank masks a different slice, so each draws its own masks (the same seed everywhere would repeat one
    pattern on every shard); τ's fixed mask is drawn on full tensors with the job's seed."""
    o, t = job.optimizer, job.train
    params = [p for p in model.parameters() if p.requires_grad]
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, betas=o.betas, eps=o.eps, weight_decay=t.weight_decay)
    seed = tau_seed(job)
    mask_seed = seed + 7919 * rank if sharded else seed
    opt = OnlineMergeAdamW(params, **merge_kwargs(job), seed=mask_seed, clip_val=o.clip_tau)
    if o.base_model:
        inner = getattr(model, "module", model)  # DDP's wrapper holds the names without "module."
        named = [(n, p) for n, p in inner.named_parameters() if p.requires_grad]
        sft, base = tau_paths(job)
        tau, missing = compute_tau(
            named, sft, base, method=o.name, p=o.p, clip_tau=o.clip_tau, rescale=o.rescale, seed=seed
        )
        report_missing(missing)
        opt.set_tau(tau)
    return opt
