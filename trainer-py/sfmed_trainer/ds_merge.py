"""OnDARE / OnTIES under DeepSpeed ZeRO-3: the online merge runs on each rank's fp32 master partition.

ZeRO-3 hands its inner optimizer one flat fp32 tensor per sub-group (`fp32_partitioned_groups_flat[i]`): the
concatenation, parameter after parameter, of this rank's partition of each parameter. A partition is the
slice [rank·ps, (rank+1)·ps) of the flattened parameter with ps = ceil(numel / world), zero-padded at the end
(`partition_parameters.py`: `_aligned_size`, `ds_tensor`; `stage3.py`: `grad_position[id] = (sub-group,
offset, ps)`). `ZeroMergeAdamW` is that inner optimizer. On each `step()` DeepSpeed calls for a sub-group
(after it has reduce-scattered, unscaled and clipped the gradients, before it copies fp32 → the model's
partitions) it walks the parameters of the flat tensor and, on each one's valid slice, runs exactly the
per-tensor update `optim.merge_update_` defines (decoupled decay, moments, Δ from exp_avg/exp_avg_sq, then
the DARE/TIES merge with α·τ): the same arithmetic as `OnlineMergeAdamW`, element for element.

Why the flat groups and not `safe_get_local_fp32_param`/`safe_set_local_fp32_param` around `engine.step()`:
by the time `engine.step()` returns, DeepSpeed has already copied the fp32 masters into the model's 16-bit
partitions, so a post-hoc fix-up would have to write both, and recovering Δ afterwards needs either a
pre-step fp32 snapshot (4·P/world extra bytes) or θ_after − Δ, which is not θ_before·(1 − lr·wd) bit for bit.
Running inside the inner step reads Δ from the moments once, applies the merged update once, costs no
snapshot, and keeps DeepSpeed's own checkpointing (the state is the usual `step`/`exp_avg`/`exp_avg_sq` keyed
by the flat tensor, so `checkpoint-N/global_stepN` saves and resumes it).

Memory beyond AdamW on the partitions: τ's local slice in fp32 (4·P/world bytes; computed by streaming one
full tensor at a time from the SFT and base checkpoints, sparsified on the full tensor with the unsharded
run's seed and mask, then sliced; OnDARE with p ≤ optim.SPARSE_P keeps it as indices + values, ≈ 12·p·P/world
bytes, and updates through OnlineMergeAdamW's index path; OnTIES with p ≤ optim.SPARSE_TAU_ONTIES_P keeps it
sparse too and makes one parameter's slice dense at a time in the step), and per step one partition-sized temporary per
parameter (the update, as `merge_update_` forms it). OnTIES gathers each rank's top-min(k, ps) |Δ| values per
parameter (k = int(p·numel) of the full parameter) to find the global threshold: world·min(k, ps) floats per
parameter, transient.

Masks: OnDARE's Bernoulli masks are drawn per rank (ranks own disjoint elements), from a generator reseeded
every step with (seed, rank, step, sub-group): a resumed run draws the masks an uninterrupted one would, with
no generator state to save. They differ from the one-process run's masks. OnTIES has no random masks, and its
top-k is the global one (ties to the lower flat index, as `magnitude_mask`), so it matches one process.
`rescale: l1` is refused under ZeRO-3 by the job validation (its norms would be per partition).
"""

from __future__ import annotations

from typing import Iterable

import torch

from .optim.adam import METHODS, MergeHParams, default_rescale
from .optim.factory import merge_kwargs, report_missing, tau_paths, tau_seed
from .optim.sparse import SPARSE_P, SPARSE_TAU_ONTIES_P, SparseTau
from .optim.tau import stream_tau
from .optim.topk import topk_values
from .optim.update import update_tensor_

# ---------------------------------------------------------------------------------------------------------
# Partition layout and the global top-k, as plain functions (tested without DeepSpeed).


def partition_bounds(numel: int, world: int, rank: int) -> tuple[int, int, int]:
    """(start, valid, ps): ZeRO-3's partition of a parameter with `numel` elements on `rank` of `world` is the
    flat slice [start, start + valid) followed by ps − valid zeros of padding; ps = ceil(numel / world)."""
    ps = -(-numel // world)
    start = rank * ps
    return start, max(0, min(ps, numel - start)), ps


def partition_of(full: torch.Tensor, world: int, rank: int) -> torch.Tensor:
    """This rank's padded partition of a full tensor (what DeepSpeed keeps in `param.ds_tensor`)."""
    start, valid, ps = partition_bounds(full.numel(), world, rank)
    out = torch.zeros(ps, dtype=full.dtype, device=full.device)
    out[:valid] = full.reshape(-1)[start : start + valid]
    return out


def _local_top(a: torch.Tensor, width: int) -> torch.Tensor:
    """The min(width, len(a)) largest entries of a (≥ 0), padded with −1 (below every |x|) to `width`."""
    top = torch.full((width,), -1.0, dtype=a.dtype, device=a.device)
    kl = min(width, a.numel())
    if kl:
        top[:kl] = topk_values(a, kl)
    return top


def _pick(a: torch.Tensor, thr: torch.Tensor, above_before: int, ties_before: int, k: int) -> torch.Tensor:
    """Keep mask for one rank: entries above the global threshold, plus the ties at it that still fit into k
    after `above_before` strict entries on all ranks and `ties_before` ties on lower ranks (lower flat index)."""
    m = a > thr
    room = k - above_before - ties_before
    if room > 0:
        m[torch.nonzero(a == thr).flatten()[:room]] = True
    return m


def partition_topk_masks(parts: list[torch.Tensor], keep: float) -> list[torch.Tensor]:
    """All ranks at once, in one process: the keep masks of the valid slices `parts` (rank order = flat
    order) for the k = int(keep·n) largest |x| of their concatenation, ties to the lower flat index; the same
    steps `partition_topk_mask` runs with collectives. Equals magnitude_mask on the full tensor."""
    n = sum(x.numel() for x in parts)
    k = int(keep * n)
    if keep >= 1 or k < 1:
        return [torch.ones_like(x) for x in parts]
    width = -(-n // len(parts))
    absd = [x.detach().abs().flatten().float() for x in parts]
    thr = torch.topk(torch.cat([_local_top(a, min(k, width)) for a in absd]), k, sorted=False).values.min()
    above = sum(int((a > thr).sum()) for a in absd)
    ties = [int((a == thr).sum()) for a in absd]
    return [_pick(a, thr, above, sum(ties[:r]), k).view_as(x).to(x.dtype) for r, (a, x) in enumerate(zip(absd, parts))]


def partition_topk_mask(x: torch.Tensor, keep: float, numel: int, ps: int, group=None) -> torch.Tensor:
    """This rank's keep mask for its valid slice `x` of a parameter with `numel` elements split in partitions
    of `ps` over `group`: exactly the set magnitude_mask keeps on the full tensor. Each rank contributes its
    top-min(k, ps) |x| (the global top-k lies in their union) to find the threshold, then the strict and tie
    counts so ties go to lower ranks, i.e. lower flat indices, first. Every rank must call it, also one whose
    slice is empty (a parameter with fewer elements than ranks)."""
    from deepspeed import comm as dist

    k = int(keep * numel)
    if keep >= 1 or k < 1:
        return torch.ones_like(x)
    world, me = dist.get_world_size(group=group), dist.get_rank(group=group)
    a = x.detach().abs().flatten().float()
    top = _local_top(a, min(k, ps))
    gathered = [torch.empty_like(top) for _ in range(world)]
    dist.all_gather(gathered, top, group=group)
    thr = torch.topk(torch.cat(gathered), k, sorted=False).values.min()
    counts = torch.tensor([int((a > thr).sum()), int((a == thr).sum())], dtype=torch.int64, device=a.device)
    all_counts = [torch.empty_like(counts) for _ in range(world)]
    dist.all_gather(all_counts, counts, group=group)
    above = sum(int(c[0]) for c in all_counts)
    ties_before = sum(int(c[1]) for c in all_counts[:me])
    return _pick(a, thr, above, ties_before, k).view_as(x).to(x.dtype)


# ---------------------------------------------------------------------------------------------------------
# τ for the partitions.


def partition_tau(
    named_params: Iterable[tuple[str, torch.Tensor]],
    sft_path: str,
    base_path: str,
    *,
    method: str,
    p: float,
    world: int,
    rank: int,
    clip_tau: float = 1.0,
    rescale: str | None = None,
    seed: int = 0,
    sparse: bool = False,
) -> tuple[dict[torch.Tensor, "torch.Tensor | SparseTau"], list[str]]:
    """({param: τ's valid slice on this rank, fp32}, names missing from a checkpoint). τ = θ_SFT − θ_base is
    streamed one full tensor at a time by optim.stream_tau, as optim.compute_tau does (the same generator,
    seed and order, so the same fixed mask as an unsharded run), then sliced as ZeRO-3 partitions the
    parameter. Parameters may be ZeRO-3 parameters (shape from `ds_shape`) or plain tensors. `sparse` keeps each
    slice as a SparseTau (its nonzero indices + values)."""
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
        shape_of=lambda q: tuple(getattr(q, "ds_shape", q.shape)),
    ):
        start, valid, _ = partition_bounds(t.numel(), world, rank)
        local = t.reshape(-1)[start : start + valid]
        if sparse:
            idx = torch.nonzero(local).flatten()
            out[prm] = SparseTau(idx, local[idx].clone())
        else:
            out[prm] = local.clone()
    return out, missing


# ---------------------------------------------------------------------------------------------------------
# The inner optimizer DeepSpeed steps on the flat partitions.


def mask_seed(seed: int, rank: int, step: int, sub_group: int) -> int:
    """The OnDARE mask generator's seed for one (rank, step, sub-group): a pure function, so resume needs no
    saved generator state."""
    return (seed * 1_000_003 + rank * 7919 + step * 104_729 + sub_group * 15_485_863) % (1 << 62)


class ZeroMergeAdamW(torch.optim.Optimizer):
    """OnlineMergeAdamW for ZeRO-3's flat fp32 partitions (see the module docstring). Built over the model's
    (ZeRO-3) parameters; DeepSpeed then swaps each group's params for flat partitions and calls `step()`
    once per sub-group. The layout (which parameter sits where in which flat tensor) is read from the ZeRO-3
    optimizer (`param._z3_optimizer`) on the first step. `tau` maps a model parameter to its local τ slice
    (`partition_tau`)."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        method: str = "ondare",
        p: float = 1.0,
        alpha: float = 0.0,
        rescale: str | None = None,
        seed: int = 0,
    ):
        params = list(params)
        if method not in METHODS:
            raise ValueError("method must be ondare or onties")
        if not 0 < p <= 1:
            raise ValueError("p must be in (0, 1]")
        if rescale == "l1":
            raise ValueError("rescale l1 is not supported under ZeRO-3 (its norms would be per partition)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))
        self._model_params = params
        self.method, self.p, self.alpha, self.seed = method, p, alpha, seed
        self.rescale = rescale or default_rescale(method)
        self.tau: dict[torch.Tensor, torch.Tensor] = {}
        self._layout: dict[int, tuple[int, list]] | None = None

    def set_tau(self, tau_by_param: dict[torch.Tensor, torch.Tensor]) -> None:
        self.tau = tau_by_param

    def _bind(self) -> dict[int, tuple[int, list]]:
        """id(flat fp32 tensor) → (sub-group, [(param, offset, valid, ps, rank, group)]), checked against
        DeepSpeed's own partition sizes."""
        from deepspeed import comm as dist

        z3 = next((getattr(q, "_z3_optimizer", None) for q in self._model_params if hasattr(q, "_z3_optimizer")), None)
        if z3 is None:
            raise RuntimeError("ZeroMergeAdamW steps only inside a DeepSpeed ZeRO-3 optimizer")
        layout = {}
        for i, flat in enumerate(z3.fp32_partitioned_groups_flat):
            segs = []
            for prm in z3.fp16_groups[i]:
                group = z3._get_param_partition_group(prm)
                world, rank = dist.get_world_size(group=group), dist.get_rank(group=group)
                _, off, n = z3.grad_position[z3.get_param_id(prm)]
                start, valid, ps = partition_bounds(prm.ds_numel, world, rank)
                if n != ps or prm.ds_tensor.numel() != ps or getattr(prm, "ds_numel_aligned", ps * world) != ps * world:
                    raise RuntimeError(
                        f"ZeRO-3 partition of a {tuple(prm.ds_shape)} parameter holds {n} elements; "
                        f"expected ceil({prm.ds_numel}/{world}) = {ps}"
                    )
                tau = self.tau.get(prm)
                if torch.is_tensor(tau) and tau.numel() != valid:
                    raise RuntimeError(f"tau slice of {valid} elements expected, got {tau.numel()}")
                segs.append((prm, int(off), valid, ps, rank, group))
            layout[id(flat)] = (i, segs)
        return layout

    def _hparams(self, group: dict) -> MergeHParams:
        return MergeHParams(
            lr=group["lr"], betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
            method=self.method, p=self.p, alpha=self.alpha, rescale=self.rescale,
        )  # fmt: skip

    def _advance(self, flat: torch.Tensor) -> tuple[dict, int]:
        state = self.state[flat]
        if len(state) == 0:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(flat)
            state["exp_avg_sq"] = torch.zeros_like(flat)
        state["step"] += 1
        return state, int(state["step"].item())

    def _mask_gen(self, flat: torch.Tensor, segs: list, step: int, sub: int) -> torch.Generator | None:
        """OnDARE's generator for one flat partition and step (mask_seed: nothing to save for resume)."""
        if self.method != "ondare" or self.p >= 1:
            return None
        gen = torch.Generator(device=flat.device)
        gen.manual_seed(mask_seed(self.seed, segs[0][4] if segs else 0, step, sub))
        return gen

    def _global_mask(self, prm, ps: int, pgroup):
        """OnTIES's keep mask of this partition under the whole parameter's top-k (partition_topk_mask)."""
        if self.method != "onties" or self.p >= 1:
            return None
        return lambda d: partition_topk_mask(d, self.p, prm.ds_numel, ps, pgroup)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self._layout is None:
            self._layout = self._bind()
        for group in self.param_groups:
            hp = self._hparams(group)
            for flat in (f for f in group["params"] if f.grad is not None):
                sub, segs = self._layout[id(flat)]
                state, step = self._advance(flat)
                gen = self._mask_gen(flat, segs, step, sub)
                for prm, off, valid, ps, _rank, pgroup in segs:
                    view = lambda x: x.narrow(0, off, valid)  # the valid slice; padding stays 0
                    # OnlineMergeAdamW's per-tensor update on a piece of the parameter: OnDARE's index path at
                    # small keep rates, OnTIES's top-k global over the whole parameter.
                    update_tensor_(view(flat), view(flat.grad), view(state["exp_avg"]), view(state["exp_avg_sq"]),
                                   step, hp, tau=self.tau.get(prm), gen=gen, whole=False,
                                   global_mask=self._global_mask(prm, ps, pgroup))  # fmt: skip
        return loss


def build_zero_merge_optimizer(runner, model) -> ZeroMergeAdamW:
    """The job's OnDARE/OnTIES for a model already loaded into ZeRO-3 partitions (zero.Init): the same
    hyperparameters and τ (seed, sparsification) as optim.build_optimizer, τ kept as this rank's slices."""
    job, d = runner.job, runner.d
    o, seed = job.optimizer, tau_seed(job)
    named = [(n, q) for n, q in model.named_parameters() if q.requires_grad]
    opt = ZeroMergeAdamW([q for _, q in named], **merge_kwargs(job), seed=seed)
    if o.base_model:
        # a DARE-masked or top-k τ keeps ≈ p of its entries: indices + values (12 bytes each), not a dense slice
        sparse = (o.name == "ondare" and o.p <= SPARSE_P) or (
            o.name == "onties" and o.p <= SPARSE_TAU_ONTIES_P and opt.rescale == "none"
        )
        sft, base = tau_paths(job)
        tau, missing = partition_tau(named, sft, base, method=o.name, p=o.p, world=d.world, rank=d.rank,
                                     clip_tau=o.clip_tau, rescale=o.rescale, seed=seed, sparse=sparse)  # fmt: skip
        report_missing(missing)
        opt.set_tau({q: _to_device(v, d.device) for q, v in tau.items()})
    return opt


def _to_device(tau: "torch.Tensor | SparseTau", device) -> "torch.Tensor | SparseTau":
    if isinstance(tau, SparseTau):
        return SparseTau(tau.indices.to(device), tau.values.to(device))
    return tau.to(device)
