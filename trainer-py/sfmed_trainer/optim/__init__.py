"""Online merging optimizers (Lu et al. 2024, arXiv 2405.17931): OnDARE and OnTIES on top of AdamW.

Modules: adam (the shared AdamW arithmetic and hyperparameters), update (the per-tensor update: the dense
definition and the one path decision every optimizer makes), topk (top-k selection), sparse (index paths),
sharded (OnTIES's global top-k on FSDP2 shards), optimizer (OnlineMergeAdamW), tau (τ from two checkpoints),
factory (the job's optimizer), native (the numba kernels).

τ is computed once from the SFT and base checkpoints (compute_tau), sparsified with a mask drawn once and
kept for the whole run (ondare: DARE mask, ×1/p, clamped to ±clip_tau, whatever `rescale` says (the
official code's τ; "none" skips the ×1/p); onties: magnitude top-k).
"""

from .adam import METHODS, MergeHParams, default_rescale
from .factory import build_optimizer
from .optimizer import OnlineMergeAdamW
from .sharded import (
    SHARDED_GATHER_BYTES,
    onties_sharded_many_,
    onties_sharded_steps,
    onties_sharded_update_,
    run_gathers,
    sharded_magnitude_mask,
)
from .sparse import (
    SPARSE_P,
    SPARSE_TAU_ONTIES_P,
    SparseTau,
    bernoulli_indices,
    ondare_sparse_update_,
    onties_sparse_update_,
)
from .tau import CheckpointTensors, compute_tau, stream_tau
from .topk import SELECT_MIN_N, SelectionState, magnitude_mask, top_update_support, topk_indices, topk_values
from .update import merge_update_, update_tensor_

__all__ = [
    "CheckpointTensors",
    "METHODS",
    "MergeHParams",
    "OnlineMergeAdamW",
    "SELECT_MIN_N",
    "SHARDED_GATHER_BYTES",
    "SPARSE_P",
    "SPARSE_TAU_ONTIES_P",
    "SelectionState",
    "SparseTau",
    "bernoulli_indices",
    "build_optimizer",
    "compute_tau",
    "default_rescale",
    "magnitude_mask",
    "merge_update_",
    "ondare_sparse_update_",
    "onties_sharded_many_",
    "onties_sharded_steps",
    "onties_sharded_update_",
    "onties_sparse_update_",
    "run_gathers",
    "sharded_magnitude_mask",
    "stream_tau",
    "top_update_support",
    "topk_indices",
    "topk_values",
    "update_tensor_",
]
