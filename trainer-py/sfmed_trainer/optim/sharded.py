"""OnTIES on FSDP2 shards: the top-k of the WHOLE tensor (the set one process keeps) from each rank's shard,
with the local top-k values and tie counts all-gathered, batched over many parameters per collective."""

from __future__ import annotations

import torch

from .adam import bias_corrections, decay_
from .sparse import SparseTau, onties_merge_
from .topk import SelectionState, top_update_support, topk_values

SHARDED_GATHER_BYTES = 64 << 20  # bound on one batched all-gather's receive buffer (world · Σk floats)


def local_shard(x: torch.Tensor) -> torch.Tensor:
    """The local shard of a DTensor (FSDP2 parameter or gradient; an alias), else x."""
    return x.to_local() if hasattr(x, "device_mesh") and hasattr(x, "to_local") else x


def comm_device(dprm, local: torch.Tensor) -> torch.device:
    """Where the trims' small collectives run: the mesh's device. A CPU-offloaded shard of a CUDA mesh lives on
    the CPU, but its process group is NCCL's, which takes CUDA tensors only."""
    kind = getattr(dprm.device_mesh, "device_type", local.device.type)
    if kind == "cuda" and local.device.type != "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return local.device


def global_topk_ok(dprm) -> bool:
    """A DTensor sharded along dim 0 on a 1-D mesh (FSDP2's layout): flat index order = rank order."""
    pl = getattr(dprm, "placements", None)
    return pl is not None and len(pl) == 1 and getattr(pl[0], "dim", None) == 0 and dprm.device_mesh.ndim == 1


def sharded_magnitude_mask(x: torch.Tensor, keep: float, dprm) -> torch.Tensor:
    """magnitude_mask over the FULL tensor of the DTensor `dprm`, given this rank's dim-0 shard `x` of a
    same-shaped tensor: exactly the set the unsharded run keeps (k = int(keep·numel) of the whole tensor,
    ties to the lower flat index). Each rank's local top-k values are all-gathered (the global top-k lies in
    their union) to find the threshold; tie counts are all-gathered so ties go to lower ranks first (Shard(0)
    on a 1-D mesh orders flat indices by rank). Communication: k values per rank."""
    import torch.distributed as dist

    n = dprm.numel()
    k = int(keep * n)
    if keep >= 1 or k < 1:
        return torch.ones_like(x)
    group = dprm.device_mesh.get_group()
    world, me = dist.get_world_size(group), dprm.device_mesh.get_local_rank()
    a = x.detach().abs().flatten()
    if a.dtype != torch.float32:
        a = a.float()
    top = torch.full((k,), -1.0, device=a.device)  # |x| ≥ 0, so -1 pads below every real value
    kl = min(k, a.numel())
    if kl:
        top[:kl] = topk_values(a, kl)
    dev = comm_device(dprm, a)
    top = top.to(dev)
    gathered = [torch.empty_like(top) for _ in range(world)]
    dist.all_gather(gathered, top, group=group)
    thr = topk_values(torch.cat(gathered), k).min().to(a.device)
    m = a > thr
    ties = torch.nonzero(a == thr).flatten()
    counts = torch.tensor([int(m.sum()), ties.numel()], dtype=torch.int64, device=dev)
    all_counts = [torch.empty_like(counts) for _ in range(world)]
    dist.all_gather(all_counts, counts, group=group)
    room = k - sum(int(c[0]) for c in all_counts) - sum(int(c[1]) for c in all_counts[:me])
    if room > 0:
        m[ties[:room]] = True
    return m.view_as(x).to(x.dtype)


def onties_sharded_update_(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    p: float,
    alpha: float,
    tau: "torch.Tensor | SparseTau | None",
    dprm,
    state: SelectionState | None = None,
) -> None:
    """OnTIES (no rescale) on this rank's shard `param` of the dim-0-sharded DTensor `dprm`, keeping exactly
    the set sharded_magnitude_mask keeps (the k = int(p·numel) largest |Δ| of the whole tensor, ties to the
    lower flat index), without forming Δ densely: this rank's own top-min(k, shard) entries come from
    top_update_support (the compiled pass on CPU, moments updated in it), the global threshold from an
    all-gather of their |Δ|, and the tie counts from a second one. The global top-k lies among the ranks' own
    top-k, so only a local cut that falls inside a run of values equal to the threshold needs the shard's
    dense |Δ| (to count the ties past it). Every rank makes the same collective calls. Many parameters share
    their all-gathers through onties_sharded_many_."""
    steps = onties_sharded_steps(
        param, grad, exp_avg, exp_avg_sq, step, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
        p=p, alpha=alpha, tau=tau, dprm=dprm, state=state,
    )  # fmt: skip
    run_gathers([steps], dprm.device_mesh.get_group())


def onties_sharded_many_(items: list[dict], group, world: int, budget: int = SHARDED_GATHER_BYTES) -> None:
    """onties_sharded_update_ over many parameters of one process group (each item: its keyword arguments)
    with two all-gathers per batch of parameters instead of two per parameter. A batch takes parameters in
    order while world · Σk · 4 bytes stays within `budget` (at least one parameter): k depends only on the
    full tensor's size, so every rank cuts the same batches. Per-collective latency dominates the step at the
    official keep rate (k = 1 % of a tensor), over gloo as over NCCL."""
    i = 0
    while i < len(items):
        j, size = i, 0
        while j < len(items) and (j == i or size + world * 4 * _sharded_k(items[j]) <= budget):
            size += world * 4 * _sharded_k(items[j])
            j += 1
        run_gathers([onties_sharded_steps(**it) for it in items[i:j]], group)
        i = j


def _sharded_k(item: dict) -> int:
    return int(item["p"] * item["dprm"].numel())


def run_gathers(steps: list, group) -> None:
    """Drive coroutines that each yield the tensor they contribute to an all-gather and are sent back every
    rank's, in rank order, round after round: a round's tensors (one dtype and device) travel in one
    all_gather of their concatenation. Every rank holds coroutines of the same sizes in the same order."""
    import torch.distributed as dist

    world = dist.get_world_size(group)
    pending = [(g, next(g)) for g in steps]
    while pending:
        bufs = [b for _, b in pending]
        kinds = {(str(b.dtype), str(b.device)) for b in bufs}
        if len(kinds) != 1:
            raise RuntimeError(f"run_gathers: one round mixes dtypes/devices {sorted(kinds)}")
        flat = torch.cat([b.reshape(-1) for b in bufs])
        outs = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(outs, flat, group=group)
        parts = [o.split([b.numel() for b in bufs]) for o in outs]
        nxt = []
        for i, (g, b) in enumerate(pending):
            try:
                nxt.append((g, g.send([parts[r][i].view_as(b) for r in range(world)])))
            except StopIteration:
                pass
        pending = nxt


def onties_sharded_steps(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    p: float,
    alpha: float,
    tau: "torch.Tensor | SparseTau | None",
    dprm,
    state: SelectionState | None = None,
):
    """onties_sharded_update_ as a coroutine for run_gathers: it yields this rank's top-k |Δ| (padded to k),
    then its strict and tie counts, and receives every rank's of each."""
    beta1, beta2 = betas
    decay_(param, lr, weight_decay)
    bc1, bc2 = bias_corrections(step, betas)
    c2, scale = bc2**0.5, -(lr / bc1)
    n = param.numel()
    k = int(p * dprm.numel())
    kl = min(k, n)
    me = dprm.device_mesh.get_local_rank()

    def dense_delta() -> torch.Tensor:  # the moments are updated by now
        return (exp_avg / (exp_avg_sq.sqrt() / c2).add_(eps)).mul_(scale).view(-1)

    if 0 < kl < n:
        S, d = top_update_support(exp_avg, exp_avg_sq, c2, eps, scale, kl, state, grad=grad, betas=betas)
    else:  # the whole shard is a candidate (or there is none): moments, then Δ everywhere
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        S = torch.arange(n, device=param.device)
        d = dense_delta()
    a = d.abs().float()
    top = torch.full((k,), -1.0, device=param.device)  # |Δ| ≥ 0, so -1 pads below every real value
    top[: a.numel()] = a
    dev = comm_device(dprm, param)
    gathered = yield top.to(dev)
    thr = topk_values(torch.cat(gathered), k).min().to(param.device)
    strict = a > thr
    if 0 < kl < n and bool(a.min() == thr):  # ties at the threshold may continue past the local cut
        full = dense_delta()
        tie_idx = torch.nonzero(full.abs().float() == thr).flatten()
        tie_d = full[tie_idx]
    else:
        tie = a == thr
        tie_idx, tie_d = S[tie], d[tie]
    all_counts = yield torch.tensor([int(strict.sum()), tie_idx.numel()], dtype=torch.int64, device=dev)
    room = max(0, k - sum(int(c[0]) for c in all_counts) - sum(int(c[1]) for c in all_counts[:me]))
    keep_idx = torch.cat([S[strict], tie_idx[:room]])
    keep_d = torch.cat([d[strict], tie_d[:room]])
    order = torch.argsort(keep_idx)
    onties_merge_(param, keep_idx[order], keep_d[order], tau, alpha)
