"""τ = θ_SFT − θ_base, streamed tensor by tensor from the two checkpoints (never three models in memory) and
sparsified with a mask fixed for the whole run (ondare: DARE draw ×1/p clamped to ±clip_tau; onties:
magnitude top-k)."""

from __future__ import annotations

import json
import os
from typing import Iterable, Iterator

import torch

from .adam import default_rescale, rescale_
from .sharded import local_shard
from .sparse import SPARSE_P, SPARSE_TAU_ONTIES_P, SparseTau
from .topk import magnitude_mask


class CheckpointTensors:
    """Lazy reader over a HF checkpoint folder (model.safetensors or a sharded index); one open shard."""

    def __init__(self, folder: str):
        self.folder = folder
        idx = os.path.join(folder, "model.safetensors.index.json")
        if os.path.exists(idx):
            with open(idx, encoding="utf-8") as f:
                self.weight_map: dict[str, str] = json.load(f)["weight_map"]
        else:
            from safetensors import safe_open

            single = os.path.join(folder, "model.safetensors")
            if not os.path.exists(single):
                raise FileNotFoundError(f"{folder}: no model.safetensors or model.safetensors.index.json")
            with safe_open(single, framework="pt") as f:
                self.weight_map = {k: "model.safetensors" for k in f.keys()}
        self._open_name: str | None = None
        self._handle = None

    def __contains__(self, name: str) -> bool:
        return name in self.weight_map

    def get(self, name: str) -> torch.Tensor:
        from safetensors import safe_open

        shard = self.weight_map[name]
        if shard != self._open_name:
            self._handle = safe_open(os.path.join(self.folder, shard), framework="pt")
            self._open_name = shard
        return self._handle.get_tensor(name)


def stream_tau(
    named_params: Iterable[tuple[str, torch.Tensor]],
    sft_path: str,
    base_path: str,
    *,
    method: str,
    p: float,
    clip_tau: float = 1.0,
    rescale: str | None = None,
    seed: int = 0,
    missing: list[str],
    shape_of=lambda prm: tuple(prm.shape),
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(param, its full τ in fp32), one parameter at a time: τ = θ_SFT − θ_base read tensor by tensor from the
    two checkpoints and sparsified with the run's fixed mask (ondare: DARE draw from a generator seeded by
    `seed`, rescaled and clamped to ±clip_tau; onties: magnitude top-k). Every consumer (one process, FSDP
    shards, ZeRO-3 partitions) cuts the same full τ, so they agree with the unsharded run. Names missing
    from a checkpoint are appended to `missing`; `shape_of(param)` is the full shape to check against."""
    rescale = rescale or default_rescale(method)
    sft, base = CheckpointTensors(sft_path), CheckpointTensors(base_path)
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    for name, prm in named_params:
        key = name[len("module.") :] if name.startswith("module.") else name
        if key not in sft or key not in base:
            missing.append(key)
            continue
        t = sft.get(key).float() - base.get(key).float()
        shape = tuple(shape_of(prm))
        if tuple(t.shape) != shape:
            raise ValueError(f"tau {key}: shape {tuple(t.shape)} differs from the model's {shape}")
        if p < 1:
            before = t.abs().sum() if rescale == "l1" else None
            if method == "ondare":
                # The official τ is F.dropout's (×1/p) then the clamp; its L1 `rescale` touches Δ only.
                t.mul_(torch.bernoulli(torch.full_like(t, p), generator=gen))
                rescale_(t, before, p, "none" if rescale == "none" else "inverse_keep")
            else:
                t.mul_(magnitude_mask(t, p))
                if rescale != "none":
                    rescale_(t, before, p, rescale)
        if method == "ondare":
            t.clamp_(-clip_tau, clip_tau)
        yield prm, t


def compute_tau(
    named_params: Iterable[tuple[str, torch.Tensor]],
    sft_path: str,
    base_path: str,
    *,
    method: str,
    p: float,
    clip_tau: float = 1.0,
    rescale: str | None = None,
    seed: int = 0,
) -> tuple[dict[torch.Tensor, torch.Tensor], list[str]]:
    """Return ({param: τ}, names missing from either checkpoint). τ is fp32-computed (stream_tau), stored in
    the parameter's dtype and device, and sparsified with a mask fixed for the run."""
    rescale = rescale or default_rescale(method)
    out: dict[torch.Tensor, torch.Tensor] = {}
    missing: list[str] = []
    for prm, t in stream_tau(
        named_params,
        sft_path,
        base_path,
        method=method,
        p=p,
        clip_tau=clip_tau,
        rescale=rescale,
        seed=seed,
        missing=missing,
    ):
        # τ is built and sparsified on the full tensor (the same mask as an unsharded run), then a sharded
        # (DTensor) parameter keeps only its own slice, cut as the parameter is.
        loc = local_shard(prm)
        if loc is not prm:
            from torch.distributed.tensor import distribute_tensor

            t = distribute_tensor(t, prm.device_mesh, prm.placements, src_data_rank=None).to_local()
        t = t.to(dtype=loc.dtype, device=loc.device)
        if loc.is_contiguous() and (
            (method == "ondare" and p <= SPARSE_P)
            or (method == "onties" and p <= SPARSE_TAU_ONTIES_P and rescale == "none")
        ):
            # A small keep rate leaves τ with ≈ p·n nonzeros (ondare's fixed DARE support, onties's top-k):
            # kept as indices + values; the index update paths read it directly.
            flat = t.contiguous().view(-1)
            idx = torch.nonzero(flat).flatten()
            out[prm] = SparseTau(idx, flat[idx].clone())
        else:
            out[prm] = t.contiguous()
    return out, missing
