"""OnlineMergeAdamW: AdamW whose applied update is sparsified (DARE or TIES) and merged with a fixed task
vector τ (Lu et al. 2024, arXiv 2405.17931). Per tensor it runs update.update_tensor_; OnTIES on FSDP2
shards on CPU is batched so many parameters share each all-gather (sharded.onties_sharded_many_)."""

from __future__ import annotations

from typing import Iterable

import torch

from .adam import METHODS, MergeHParams, default_rescale
from .sharded import global_topk_ok, local_shard, onties_sharded_many_, sharded_magnitude_mask
from .topk import SelectionState
from .update import update_tensor_


class OnlineMergeAdamW(torch.optim.Optimizer):
    """AdamW whose applied update is sparsified (DARE or TIES) and merged with a fixed task vector τ.

    τ is held in `self.tau` (not in the state dict: it is recomputed from the checkpoints and the seed on
    resume). The Bernoulli masks come from a dedicated generator per device whose state is saved in the
    state dict, so a resumed run draws the same masks as an uninterrupted one.
    """

    # Moments are plain tensors holding this rank's shard even for DTensor (FSDP2) parameters.
    local_state = True

    def __init__(
        self,
        params: Iterable,
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
        clip_val: float = 1.0,
    ):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
        if not 0 < p <= 1:
            raise ValueError("p must be in (0, 1]")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))
        self.method, self.p, self.alpha = method, p, alpha
        self.rescale = rescale or default_rescale(method)
        self.clip_val = clip_val  # ondare's Δ' clamp under rescale "l1" (the official clip_val, τ's clamp too)
        self.seed = seed
        self.tau: dict[torch.Tensor, torch.Tensor] = {}
        self._gens: dict[str, torch.Generator] = {}
        self._select = SelectionState()

    def _gen(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._gens:
            g = torch.Generator(device=device)
            g.manual_seed(self.seed)
            self._gens[key] = g
        return self._gens[key]

    def set_tau(self, tau_by_param: dict[torch.Tensor, torch.Tensor]) -> None:
        self.tau = tau_by_param

    def reseed(self, salt: int) -> None:
        """Restart the mask generators from seed + salt (a resume whose saved generators cannot be mapped
        to this rank, e.g. on a different number of ranks)."""
        self.seed = self.seed + 1_000_033 * int(salt)
        self._gens.clear()

    def _hparams(self, group: dict) -> MergeHParams:
        return MergeHParams(
            lr=group["lr"], betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
            method=self.method, p=self.p, alpha=self.alpha, rescale=self.rescale, clip_val=self.clip_val,
        )  # fmt: skip

    def _advance(self, dprm: torch.Tensor, prm: torch.Tensor) -> tuple[dict, int]:
        """This parameter's state with its step count advanced (moments created on the first step)."""
        state = self.state[dprm]
        if len(state) == 0:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(prm, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(prm, memory_format=torch.preserve_format)
        state["step"] += 1
        return state, state["step"].item()

    def _batched_sharded(self, dprm, prm: torch.Tensor, grad: torch.Tensor) -> bool:
        """OnTIES on an FSDP2 shard held on CPU: the compiled selection, many parameters per all-gather (GPUs
        keep the dense step with the global mask)."""
        return (
            prm is not dprm
            and self.method == "onties"
            and self.p < 1
            and global_topk_ok(dprm)
            and self.rescale == "none"
            and int(self.p * dprm.numel()) >= 1
            and prm.device.type == "cpu"
            and prm.is_contiguous()
            and grad.is_contiguous()
        )

    def _global_mask(self, dprm, prm):
        """OnTIES's keep mask over the whole tensor for a shard `prm` of `dprm` (None: not sharded, or a layout
        whose flat order is not the rank order, where the shard's own top-k is taken)."""
        if prm is dprm or self.method != "onties" or self.p >= 1 or not global_topk_ok(dprm):
            return None
        return lambda d: sharded_magnitude_mask(d, self.p, dprm)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        batched: dict = {}  # process group → OnTIES shard updates, run with batched all-gathers below
        for group in self.param_groups:
            hp = self._hparams(group)
            for dprm in (q for q in group["params"] if q.grad is not None):
                # FSDP2 parameters are DTensors: the update is elementwise (up to OnTIES's top-k, over the whole
                # tensor), so it runs on this rank's shard, with plain local moments and τ cut the same way.
                prm, grad = local_shard(dprm), local_shard(dprm.grad)
                state, step = self._advance(dprm, prm)
                tau = self.tau.get(dprm)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if self._batched_sharded(dprm, prm, grad):
                    item = dict(param=prm, grad=grad, exp_avg=m, exp_avg_sq=v, step=step, **hp.adam, p=self.p,
                                alpha=self.alpha, tau=tau, dprm=dprm, state=self._select)  # fmt: skip
                    batched.setdefault(dprm.device_mesh.get_group(), []).append(item)
                    continue
                gen = self._gen(prm.device) if self.method == "ondare" and self.p < 1 else None
                update_tensor_(prm, grad, m, v, step, hp, tau=tau, gen=gen, whole=prm is dprm,
                               global_mask=self._global_mask(dprm, prm), selection=self._select)  # fmt: skip
        if batched:
            import torch.distributed as dist

            for pg, items in batched.items():
                onties_sharded_many_(items, pg, dist.get_world_size(pg))
        return loss

    def state_dict(self):
        sd = super().state_dict()
        sd["mask_rng"] = {k: g.get_state() for k, g in self._gens.items()}
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        rng = state_dict.pop("mask_rng", {})
        super().load_state_dict(state_dict)
        for k, s in rng.items():
            self._gen(torch.device(k)).set_state(s)
