"""Index (sparse) paths of the online-merge update: at small keep rates only the kept entries of Δ are
formed and added (OnDARE's Bernoulli draw as geometric gaps, OnTIES's top-k support), and τ is kept as
indices + values. Each is element for element the update `update.merge_update_` defines densely."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .adam import bias_corrections, decay_, decay_and_moments_, l1_rescale_clamp_
from .native import kernels
from .topk import SelectionState, top_update_support

SPARSE_P = 0.1  # ondare keep rates at or below this use the index (sparse) path
# onties keeps τ as its top-k support (12 bytes per kept entry) at keep rates up to this: ≤ 0.6 bytes per
# element instead of a dense copy, and the step adds α·τ with one index_add over p·n entries, not a full pass.
SPARSE_TAU_ONTIES_P = 0.05


@dataclass
class SparseTau:
    """τ kept as flat indices + values (ondare with a small keep rate: ~p·n entries instead of n)."""

    indices: torch.Tensor
    values: torch.Tensor


def dense_tau(tau: "torch.Tensor | SparseTau | None", like: torch.Tensor) -> torch.Tensor | None:
    """τ as a dense tensor shaped like `like` (a SparseTau scattered into zeros; others unchanged)."""
    if not isinstance(tau, SparseTau):
        return tau
    dense = torch.zeros_like(like)
    dense.view(-1)[tau.indices] = tau.values
    return dense


def add_tau_(param: torch.Tensor, tau: "torch.Tensor | SparseTau | None", alpha: float) -> None:
    """θ ← θ + α·τ (nothing when α = 0 or there is no τ)."""
    if alpha == 0 or tau is None:
        return
    if isinstance(tau, SparseTau):
        param.view(-1).index_add_(0, tau.indices, tau.values, alpha=alpha)
    else:
        param.add_(tau, alpha=alpha)


def bernoulli_indices(n: int, p: float, generator: torch.Generator, device=None) -> torch.Tensor:
    """Flat indices of an i.i.d. Bernoulli(p) draw over n elements, sampled as geometric gaps: O(p·n)
    random numbers instead of n."""
    out = []
    pos = -1
    while True:
        chunk = int(max(16, (n - pos) * p * 1.1 + 32))
        gaps = torch.empty(chunk, dtype=torch.float64, device=device).geometric_(p, generator=generator)
        idx = pos + torch.cumsum(gaps, 0)
        out.append(idx)
        pos = idx[-1].item()
        if pos >= n - 1:
            break
    idx = torch.cat(out)
    return idx[idx < n].long()


def _moments_kernel(grad, exp_avg, exp_avg_sq):
    ok = (
        exp_avg.device.type == "cpu"
        and exp_avg.dtype in (torch.float32, torch.float64)
        and grad.dtype == exp_avg.dtype == exp_avg_sq.dtype
        and grad.is_contiguous()
        and exp_avg.is_contiguous()
        and exp_avg_sq.is_contiguous()
    )
    return kernels() if ok else None


def ondare_sparse_update_(
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
    kept: torch.Tensor,
    rescale: str,
    clip_val: float = 1.0,
) -> None:
    """OnDARE step with the Bernoulli draw given as kept flat indices: the same update as merge_update_ with
    mask = 1 at `kept`, but Δ is only computed where it is kept (rescale "l1" also reads the dense ‖Δ‖₁,
    one more pass over the moments). On CPU (float32/64, numba present) the moments are updated in one
    compiled pass and the kept entries in one compiled loop (kernels.update_moments, kernels.dare_apply)."""
    K = _moments_kernel(grad, exp_avg, exp_avg_sq)
    if K is None:
        bc1, bc2 = decay_and_moments_(param, grad, exp_avg, exp_avg_sq, step, lr, betas, weight_decay)
    else:
        decay_(param, lr, weight_decay)
        K.update_moments(
            grad.detach().view(-1).numpy(),
            exp_avg.view(-1).numpy(),
            exp_avg_sq.view(-1).numpy(),
            betas[0],
            betas[1],
            torch.get_num_threads(),
        )
        bc1, bc2 = bias_corrections(step, betas)
    if rescale == "l1":
        scale = -(lr / bc1)
        c2 = bc2**0.5
        before = (exp_avg / (exp_avg_sq.sqrt() / c2).add_(eps)).abs().sum() * abs(scale)
        d = exp_avg.view(-1)[kept] / (exp_avg_sq.view(-1)[kept].sqrt() / c2).add_(eps)
        l1_rescale_clamp_(d.mul_(scale / p), before, eps, clip_val)
        add_tau_(param, tau, alpha)
        param.view(-1).index_add_(0, kept, d.to(param.dtype), alpha=1 - alpha)
        return
    factor = -(lr / bc1) * (1 - alpha)
    if rescale == "inverse_keep":
        factor /= p
    compiled = (
        K is not None
        and param.is_contiguous()
        and param.dtype == exp_avg.dtype
        and kept.device.type == "cpu"
        and (tau is None or alpha == 0 or isinstance(tau, SparseTau) or tau.is_contiguous())
    )
    if compiled:
        ti = tv = None
        if alpha != 0 and tau is not None:
            if isinstance(tau, SparseTau):
                ti, tv = tau.indices.numpy(), tau.values.numpy()
            else:
                param.add_(tau, alpha=alpha)
        flat = param.detach().view(-1).numpy()
        m, v = exp_avg.view(-1).numpy(), exp_avg_sq.view(-1).numpy()
        K.dare_apply(flat, m, v, kept.numpy(), bc2**0.5, eps, factor, ti, tv, alpha)
        return
    m = exp_avg.view(-1)[kept]
    v = exp_avg_sq.view(-1)[kept]
    u = m / (v.sqrt() / bc2**0.5).add_(eps)
    add_tau_(param, tau, alpha)
    param.view(-1).index_add_(0, kept, u, alpha=factor)


def tau_at(tau: "torch.Tensor | SparseTau", S: torch.Tensor) -> torch.Tensor:
    """τ's values at the flat indices S (zeros off a sparse τ's support)."""
    if not isinstance(tau, SparseTau):
        return tau.reshape(-1)[S]
    m = tau.indices.numel()
    if m == 0:
        return torch.zeros(S.numel(), dtype=tau.values.dtype, device=S.device)
    if S.device.type == "cpu":
        import numpy as np

        pos = torch.from_numpy(np.searchsorted(tau.indices.numpy(), S.numpy())).clamp_(max=m - 1)
    else:
        pos = torch.searchsorted(tau.indices, S).clamp_(max=m - 1)
    hit = tau.indices[pos] == S
    return torch.where(hit, tau.values[pos], torch.zeros((), dtype=tau.values.dtype, device=S.device))


def onties_sparse_update_(
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
    state: SelectionState | None = None,
) -> None:
    """OnTIES step (no rescale) touching only the kept set S = top-k |Δ|: outside S, Δ' = 0 and the election
    is sign(τ), so τ always survives there; inside S the election decides for both τ and Δ. τ may be dense
    or a SparseTau (its top-k support); a `state` keeps the selection's threshold hints. The moments are
    updated inside top_update_support (in the selection's first pass on CPU)."""
    decay_(param, lr, weight_decay)
    bc1, bc2 = bias_corrections(step, betas)
    k = int(p * param.numel())
    S, d = top_update_support(exp_avg, exp_avg_sq, bc2**0.5, eps, -(lr / bc1), k, state, grad=grad, betas=betas)
    onties_merge_(param, S, d, tau, alpha)


def onties_merge_(
    param: torch.Tensor, S: torch.Tensor, d: torch.Tensor, tau: "torch.Tensor | SparseTau | None", alpha: float
) -> None:
    """OnTIES's election and update given the kept flat indices S (ascending) and Δ there: outside S, Δ' = 0
    and τ always survives the election; inside S it decides for both."""
    flat = param.view(-1)
    compiled = (
        S.device.type == "cpu"
        and param.dtype in (torch.float32, torch.float64)
        and d.dtype == param.dtype
        and (tau is None or isinstance(tau, SparseTau) or tau.is_contiguous())
    )
    K = kernels() if compiled else None
    if K is not None:
        out = flat.detach().numpy()
        if isinstance(tau, SparseTau):
            K.merge(out, S.numpy(), d.numpy(), tau.indices.numpy(), tau.values.numpy(), None, alpha)
        elif tau is not None:
            if alpha != 0:
                param.add_(tau, alpha=alpha)
            K.merge(out, S.numpy(), d.numpy(), None, None, tau.detach().reshape(-1).numpy(), alpha)
        else:
            K.merge(out, S.numpy(), d.numpy(), None, None, None, alpha)
        return
    if tau is None:
        flat.index_add_(0, S, d, alpha=1 - alpha)
        return
    t = tau_at(tau, S)
    positive = (t + d) >= 0
    d = d * ((d >= 0) == positive)
    if alpha != 0:
        add_tau_(param, tau, alpha)
        # inside S: + (1−α)·Δ'' − α·τ where τ lost the election (it was added everywhere above); one add
        d = d.mul_(1 - alpha).sub_(t * ((t >= 0) != positive), alpha=alpha)
        flat.index_add_(0, S, d)
        return
    flat.index_add_(0, S, d, alpha=1 - alpha)
