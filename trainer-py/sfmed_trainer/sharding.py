"""Sharded data parallelism with PyTorch FSDP2 (`torch.distributed.fsdp.fully_shard`).

Each decoder layer (the model's `_no_split_modules` classes) and the root become FSDP units: parameters,
gradients and optimizer state are split along dim 0 across ranks (DTensor `Shard(0)`), and a unit's full
weights exist only while it runs. Optimizer state stays sharded on disk too (one file per rank); model
weights are gathered to rank 0 and written as an ordinary HF checkpoint.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .events import log


def requested_sharding() -> str | None:
    """The sharding an `accelerate launch` config asked for (DeepSpeed / FSDP), from accelerate's env."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        return "deepspeed"
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return "fsdp"
    return None


def choose_strategy(job_sharding: str, world: int, main: bool = True) -> tuple[str, str | None]:
    """(strategy, requested_sharding): "single", "ddp" or "fsdp". A DeepSpeed request maps to FSDP full
    sharding (the same ZeRO-3 memory profile: parameters, gradients and optimizer state all sharded).
    Notes go to stderr from the main rank only."""
    asked = requested_sharding()
    say = log if main else (lambda msg: None)
    if world <= 1:
        if job_sharding == "fsdp" or asked:
            say("note: one process; sharding has nothing to split, running unsharded")
        return "single", asked
    if asked == "deepspeed":
        say("note: DeepSpeed ZeRO-3 was requested; this trainer runs PyTorch FSDP full sharding instead "
            "(parameters, gradients and optimizer state sharded, as ZeRO-3); the DeepSpeed config is ignored")
    if job_sharding == "fsdp" or asked in ("fsdp", "deepspeed"):
        return "fsdp", asked
    return "ddp", asked


def is_dtensor(x) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(x, DTensor)


def local(x: torch.Tensor) -> torch.Tensor:
    """This rank's shard of a DTensor (an alias: in-place ops change the DTensor), else x itself."""
    return x.to_local() if is_dtensor(x) else x


def shard_like(full: torch.Tensor, prm: torch.Tensor) -> torch.Tensor:
    """This rank's slice of a full tensor, cut exactly as the DTensor parameter `prm` is (no communication:
    every rank holds `full`)."""
    if not is_dtensor(prm):
        return full
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(full, prm.device_mesh, prm.placements, src_data_rank=None).to_local()


_MESHES: dict[str, object] = {}


def mesh_for(device: torch.device):
    """A 1-D mesh over all ranks on the training device type (explicit, so a gloo CPU run on a machine with
    CUDA does not get FSDP's default CUDA mesh)."""
    from torch.distributed.device_mesh import init_device_mesh

    key = device.type
    if key not in _MESHES:
        _MESHES[key] = init_device_mesh(key, (dist.get_world_size(),))
    return _MESHES[key]


def shard_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """fully_shard every decoder layer (the model's `_no_split_modules` classes), then the root (embeddings,
    final norm, head). In place; FSDP2 moves each unit's parameters to the mesh device as it shards them.
    Calling it again on a sharded model does nothing."""
    from torch.distributed.fsdp import fully_shard

    if getattr(model, "_sfmed_sharded", False):
        return model
    mesh = mesh_for(device)
    names = set(getattr(model, "_no_split_modules", None) or [])
    units = [m for m in model.modules() if type(m).__name__ in names]
    if not units:
        log("fsdp: no decoder-layer classes found (_no_split_modules); sharding the root only")
    for m in units:
        fully_shard(m, mesh=mesh)
    fully_shard(model, mesh=mesh)
    model._sfmed_sharded = True
    return model


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Gathered, CPU-offloaded model state on rank 0 (empty elsewhere). Collective: every rank calls it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def reshard(model: torch.nn.Module) -> None:
    """Free the gathered weights left by forwards without backward (no_grad evaluation, the DPO reference
    pass). Without it, units gathered by a no_grad pass before the first step kept their unsharded copies
    and later forwards read them after the optimizer had updated the shards (a DPO `precompute_ref` run
    drifted from the unsharded one at step 2)."""
    for m in model.modules():
        if hasattr(m, "reshard") and type(m).__name__.startswith("FSDP"):
            m.reshard()


def set_grad_sync(model, sync: bool) -> None:
    """Skip the gradient reduce-scatter on accumulation micro-steps (FSDP2's no_sync)."""
    model.set_requires_gradient_sync(sync)


def optimizer_state_local(sd: dict) -> dict:
    """Optimizer state dict with DTensor state replaced by the local shard (a plain per-rank file)."""
    out = dict(sd)
    out["state"] = {k: {n: (v.to_local().clone() if is_dtensor(v) else v) for n, v in st.items()}
                    for k, st in sd["state"].items()}
    return out


def restore_dtensor_state(opt: torch.optim.Optimizer) -> None:
    """After load_state_dict from a per-rank file: wrap local shards back into DTensors for parameters that
    are DTensors and whose optimizer keeps DTensor state (torch.optim.AdamW)."""
    from torch.distributed.tensor import DTensor

    for prm, st in opt.state.items():
        if not is_dtensor(prm):
            continue
        shape = prm.to_local().shape
        for n, v in list(st.items()):
            if torch.is_tensor(v) and not is_dtensor(v) and v.dim() > 0 and v.shape == shape:
                st[n] = DTensor.from_local(v, prm.device_mesh, prm.placements, shape=prm.shape, stride=prm.stride())


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
