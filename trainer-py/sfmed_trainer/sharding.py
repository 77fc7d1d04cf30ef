"""Sharded data parallelism with PyTorch FSDP2 (`torch.distributed.fsdp.fully_shard`).

Each decoder layer (the model's `_no_split_modules` classes) and the root become FSDP units: parameters,
gradients and optimizer state are split along dim 0 across ranks (DTensor `Shard(0)`), and a unit's full
weights exist only while it runs. Optimizer state stays sharded on disk too (one file per rank); model
weights are gathered to rank 0 and written as an ordinary HF checkpoint.
"""

from __future__ import annotations

import os
import sys

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
        say(
            "note: DeepSpeed ZeRO-3 was requested; this trainer runs PyTorch FSDP full sharding instead "
            "(parameters, gradients and optimizer state sharded, as ZeRO-3); the DeepSpeed config is ignored"
        )
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


def fsdp_policies(train, device: torch.device, main: bool = True) -> dict:
    """fully_shard keyword arguments for a job's `train` section.

    - bf16 (`train.bf16` true, or "auto" on CUDA: the same rule as the autocast elsewhere):
      `MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)` — units all-gather and compute in bf16,
      gradients are reduce-scattered in fp32 and the sharded master weights and optimizer state stay fp32.
    - `train.cpu_offload`: `CPUOffloadPolicy()` — sharded parameters, gradients and optimizer state live in
      host memory and the optimizer steps on the CPU; each unit is copied to the GPU for its forward and
      backward. FSDP2 pins host memory for this, which needs CUDA: on a CPU device everything is in host
      memory already, so the option is noted and ignored there."""
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy

    out: dict = {}
    bf16 = getattr(train, "bf16", "auto")
    if bf16 is True or (bf16 == "auto" and device.type == "cuda"):
        out["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    if getattr(train, "cpu_offload", False):
        if device.type == "cuda":
            out["offload_policy"] = CPUOffloadPolicy()
        elif main:
            log("note: train.cpu_offload on a CPU device: parameters and optimizer state are in host memory already")
    return out


def shard_model(model: torch.nn.Module, device: torch.device, **policies) -> torch.nn.Module:
    """fully_shard every decoder layer (the model's `_no_split_modules` classes), then the root (embeddings,
    final norm, head). In place; FSDP2 moves each unit's parameters to the mesh device as it shards them
    (they stay in host memory under an `offload_policy`). `policies` are fully_shard's `mp_policy` /
    `offload_policy` (see fsdp_policies). Calling it again on a sharded model does nothing."""
    from torch.distributed.fsdp import fully_shard

    if getattr(model, "_sfmed_sharded", False):
        return model
    mesh = mesh_for(device)
    names = set(getattr(model, "_no_split_modules", None) or [])
    units = [m for m in model.modules() if type(m).__name__ in names]
    if not units:
        log("fsdp: no decoder-layer classes found (_no_split_modules); sharding the root only")
    for m in units:
        fully_shard(m, mesh=mesh, **policies)
    fully_shard(model, mesh=mesh, **policies)
    model._sfmed_sharded = True
    model._sfmed_policies = policies
    if policies and (not dist.is_initialized() or dist.get_rank() == 0):
        log(f"fsdp: {type(model).__name__} sharded with " + ", ".join(f"{k}={v}" for k, v in policies.items()))
    return model


def shard_from_rank0(model: torch.nn.Module, device: torch.device, **policies) -> torch.nn.Module:
    """Shard a model whose weights only rank 0 holds; every other rank built it on the meta device. All ranks
    shard it (shard_model); the meta ranks allocate their shards (in host memory under an offload policy);
    rank 0 broadcasts its full state dict, each rank copying out its own slices
    (set_model_state_dict(broadcast_from_rank0)), then its buffers (the rotary tables are not in the state
    dict). Memory: rank 0 holds the full model once in host memory until the broadcast ends, every other
    rank only its shards and one tensor in flight. Collective: every rank calls it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    main = dist.get_rank() == 0
    full = dict(model.state_dict()) if main else {}  # the full tensors outlive sharding until broadcast
    shard_model(model, device, **policies)
    if not main:
        model.to_empty(device="cpu" if "offload_policy" in policies else device)
    for mod in model.modules():
        for name, b in mod._buffers.items():
            if b is not None:
                b = mod._buffers[name] = b.to(device)  # FSDP2 keeps buffers on the device, offload or not
                dist.broadcast(b, 0)
    set_model_state_dict(model, full, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
    del full
    return model


def exit_rank(rc: int = 0) -> None:
    """Leave a process whose process group is destroyed without the interpreter's finalization. DTensor
    (FSDP2) keeps references to the destroyed group that only C++ static destructors drop, while its gloo
    threads still run, and that teardown can abort a finished rank (SIGABRT, "terminate called without an
    active exception"). stdout and stderr are flushed first; files must be closed or renamed by then."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


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


# ---------------------------------------------------------------------------------------------------------
# Optimizer state that resumes on any number of ranks: torch.distributed.checkpoint (DCP) files keyed by
# parameter name. Each rank writes its own shards (no gathering); DCP's metadata records every shard's
# place in the full tensor, so a load reads exactly the slices the new layout needs: 2 ranks → 1 process,
# 1 → 3, or the same count.

OPTIM_DIR = "optimizer"
OPTIM_META = "optimizer_meta.pt"


def _param_names(model: torch.nn.Module) -> dict[torch.Tensor, str]:
    return {p: n for n, p in model.named_parameters()}


def _per_element(v, prm) -> bool:
    return torch.is_tensor(v) and v.dim() > 0 and tuple(local(v).shape) == tuple(local(prm).shape)


def save_optimizer(model: torch.nn.Module, opt: torch.optim.Optimizer, folder: str) -> None:
    """Write `opt`'s state under `folder`: `optimizer/` (DCP: per-element state as DTensors, so each rank
    writes its shard; scalar state such as `step` once), `optimizer_meta.pt` (rank 0: hyperparameters,
    world size) and `optimizer_rng.rank{r}.pt` (each rank's mask-generator states, OnlineMergeAdamW).
    Collective when a process group is up: every rank calls it."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.tensor import DTensor

    names = _param_names(model)
    tensors: dict[str, torch.Tensor] = {}
    for group in opt.param_groups:
        for prm in group["params"]:
            for key, v in opt.state.get(prm, {}).items():
                if not torch.is_tensor(v):
                    continue
                if _per_element(v, prm) and is_dtensor(prm) and not is_dtensor(v):
                    # OnlineMergeAdamW keeps plain local shards: describe them as the parameter is cut
                    v = DTensor.from_local(v, prm.device_mesh, prm.placements, shape=prm.shape, stride=prm.stride())
                tensors[f"{names[prm]}/{key}"] = v
    sd = opt.state_dict()
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    os.makedirs(folder, exist_ok=True)
    dcp.save(tensors, checkpoint_id=os.path.join(folder, OPTIM_DIR), no_dist=not dist.is_initialized())
    if "mask_rng" in sd:
        torch.save(sd["mask_rng"], os.path.join(folder, f"optimizer_rng.rank{rank}.pt"))
    if rank == 0:
        groups = [{k: v for k, v in g.items() if k != "params"} for g in sd["param_groups"]]
        order = [[names[p] for p in g["params"]] for g in opt.param_groups]
        torch.save({"param_groups": groups, "param_names": order, "world": world}, os.path.join(folder, OPTIM_META))


def has_optimizer_checkpoint(folder: str) -> bool:
    return os.path.exists(os.path.join(folder, OPTIM_META))


def load_optimizer(model: torch.nn.Module, opt: torch.optim.Optimizer, folder: str) -> None:
    """Load what save_optimizer wrote into a freshly built `opt` over `model` (sharded or not, any world
    size). Each per-element state tensor is read straight into this rank's slice. OnlineMergeAdamW's mask
    generators come back per rank when the world size is unchanged; otherwise there is no rank to take
    them from, so they are reseeded from the step (the masks differ from an uninterrupted run's, which
    draws per-rank masks anyway) and a note says so."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemReader

    meta = torch.load(os.path.join(folder, OPTIM_META), weights_only=True)
    path = os.path.join(folder, OPTIM_DIR)
    md = FileSystemReader(path).read_metadata().state_dict_metadata
    by_name = {n: p for n, p in model.named_parameters()}
    targets: dict[str, torch.Tensor] = {}
    for key, m in md.items():
        pname, _, skey = key.rpartition("/")
        prm = by_name.get(pname)
        if prm is None:
            raise ValueError(f"{folder}: optimizer state for {pname!r}, which the model does not have")
        size, dtype = tuple(m.size), m.properties.dtype
        if len(size) and size == tuple(prm.shape):
            targets[key] = torch.zeros_like(prm, dtype=dtype)  # a DTensor cut like the parameter when sharded
        else:
            targets[key] = torch.zeros(size, dtype=dtype)
    import warnings

    with warnings.catch_warnings():  # "assuming ... a single process": that is the one-process resume
        warnings.filterwarnings("ignore", message=".*torch.distributed is disabled.*")
        dcp.load(targets, checkpoint_id=path, no_dist=not dist.is_initialized())
    local_state = getattr(opt, "local_state", False)
    index = {}
    i = 0
    for group in opt.param_groups:
        for prm in group["params"]:
            index[prm] = i
            i += 1
    state: dict[int, dict] = {}
    for key, v in targets.items():
        pname, _, skey = key.rpartition("/")
        prm = by_name[pname]
        if local_state or not is_dtensor(prm):
            v = local(v)
        state.setdefault(index[prm], {})[skey] = v
    saved_order = meta["param_names"]
    now = [[_param_names(model)[p] for p in g["params"]] for g in opt.param_groups]
    if saved_order != now:
        raise ValueError(f"{folder}: optimizer parameter groups differ from this model's")
    groups = [
        {**g, "params": [index[p] for p in cur["params"]]} for g, cur in zip(meta["param_groups"], opt.param_groups)
    ]
    sd = {"state": state, "param_groups": groups}
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    rng_file = os.path.join(folder, f"optimizer_rng.rank{rank}.pt")
    same_world = meta["world"] == world
    if same_world and os.path.exists(rng_file):
        sd["mask_rng"] = torch.load(rng_file, weights_only=True)
    opt.load_state_dict(sd)
    if not same_world and hasattr(opt, "reseed"):
        step = max((int(st["step"].item()) for st in state.values() if "step" in st), default=0)
        opt.reseed(step)
        if rank == 0:
            log(
                f"note: optimizer state saved by {meta['world']} rank(s), resumed on {world}: "
                "per-rank mask generators reseeded from the step"
            )
    # torch's load_state_dict casts state to each parameter's dtype/device but leaves its type: keep
    # DTensor state for DTensor parameters unless the optimizer works on local shards.
    if not local_state:
        restore_dtensor_state(opt)


def load_optimizer_from_full(opt: torch.optim.Optimizer, sd: dict) -> None:
    """A one-process optimizer state dict (full tensors, as a checkpoint written without FSDP holds) into
    an optimizer over FSDP-sharded parameters: every rank keeps its own slice (no communication; every rank
    has read the file). OnlineMergeAdamW's single mask generator has no per-rank counterpart: reseeded."""
    from torch.distributed.tensor import DTensor

    params = [p for g in opt.param_groups for p in g["params"]]
    local_state = getattr(opt, "local_state", False)
    state = {}
    for i, st in sd["state"].items():
        prm = params[int(i)]
        out = {}
        for k, v in st.items():
            if is_dtensor(prm) and torch.is_tensor(v) and v.dim() > 0 and tuple(v.shape) == tuple(prm.shape):
                v = shard_like(v.to(prm.device), prm)
                if not local_state:
                    v = DTensor.from_local(v, prm.device_mesh, prm.placements, shape=prm.shape, stride=prm.stride())
            out[k] = v
        state[i] = out
    sd = {k: v for k, v in sd.items() if k != "mask_rng"}
    opt.load_state_dict({**sd, "state": state})
    if hasattr(opt, "reseed"):
        opt.reseed(max((int(st["step"].item()) for st in state.values() if "step" in st), default=0))
    if not local_state:
        restore_dtensor_state(opt)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
