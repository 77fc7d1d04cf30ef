"""Job file: JSON Schema validation (job.schema.json) then typed dataclasses."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SCHEMA_PATH = Path(__file__).with_name("job.schema.json")

# OnDARE/OnTIES add α·τ' to the weights on every optimizer step, whatever the learning rate, so α × (optimizer
# steps) is how far the run moves toward τ. The official recipe (Lu et al. 2024; SF-Med §4) is p = 0.01,
# α = 1e-7: 1e-3 after 10,000 steps. Above the soft bound the job runs with a warning; above the hard bound it
# is refused unless `optimizer.allow_large_alpha` is true. The TypeScript job builders use the same numbers.
ALPHA_STEPS_SOFT_BOUND = 1e-3
ALPHA_STEPS_HARD_BOUND = 1e-2
# Dropout when the job sets none. SF-Med §4.1 trains with "a 0.1 dropout rate" (pt, sft, rm); its DPO ran on
# LLaMA-Factory's DPO trainer, which disables dropout in the policy and the reference (TRL's disable_dropout), so
# dpo defaults to 0: with dropout the policy's log-probs are noisy against the reference's from the first step.
PAPER_DROPOUT = 0.1
DPO_DROPOUT = 0.0


class JobError(ValueError):
    """A job document that does not match the schema. `path` is the dotted key path ("train.lr")."""

    def __init__(self, path: str, message: str, file: str | None = None):
        self.path = path
        self.file = file
        where = f"{file}: " if file else ""
        super().__init__(f"{where}{path or '<root>'}: {message}")


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _dotted(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def validate_job(doc: Any, file: str | None = None) -> None:
    """Raise JobError for the first (deepest, then leftmost) schema violation."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    errors = list(validator.iter_errors(doc))
    if not errors:
        return
    # Flatten combinator errors to their most specific causes.
    leaves = []
    stack = list(errors)
    while stack:
        e = stack.pop()
        if e.context:
            stack.extend(e.context)
        else:
            leaves.append(e)
    leaves.sort(key=lambda e: (-len(e.absolute_path), _dotted(e.absolute_path)))
    e = leaves[0]
    path = list(e.absolute_path)
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        allowed = set(e.schema.get("properties", {}))
        extra = sorted(k for k in e.instance if k not in allowed)
        if extra:
            raise JobError(_dotted(path + [extra[0]]), f"unknown key (allowed: {', '.join(sorted(allowed))})", file)
    if e.validator == "required":
        missing = [k for k in e.validator_value if isinstance(e.instance, dict) and k not in e.instance]
        if missing:
            raise JobError(_dotted(path + [missing[0]]), "is required", file)
    if e.validator == "not" and isinstance(e.instance, dict):
        keys = e.validator_value.get("required", [])
        if keys:
            raise JobError(_dotted(path + [keys[0]]), f"not allowed for stage {e.instance.get('stage')!r}", file)
    raise JobError(_dotted(path), e.message, file)


@dataclass
class DataCfg:
    train: str
    eval: str | None = None
    eval_ratio: float = 0.0
    max_samples: int | None = None


@dataclass
class TrainCfg:
    epochs: float = 1
    max_steps: int | None = None
    batch_size: int = 1
    grad_accum: int = 1
    lr: float = 1e-5
    weight_decay: float = 0.0
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    dropout: float | None = None  # None: PAPER_DROPOUT, DPO_DROPOUT for stage dpo (set by parse_job)
    gradient_checkpointing: bool = False
    bf16: Any = "auto"
    seed: int = 42
    logging_steps: int = 1
    eval_steps: int | None = None
    save_steps: int | None = None
    keep_best: bool = True
    save_total_limit: int = 2
    sharding: Literal["none", "fsdp", "deepspeed"] = "none"
    cpu_offload: bool = False


@dataclass
class OptimCfg:
    name: Literal["adamw", "ondare", "onties"] = "adamw"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    p: float = 1.0
    alpha: float = 0.0
    base_model: str | None = None
    sft_model: str | None = None
    rescale: Literal["inverse_keep", "none", "l1"] | None = None  # None: per-method default
    clip_tau: float = 1.0
    seed: int | None = None
    allow_large_alpha: bool = False


@dataclass
class DpoCfg:
    beta: float = 0.1
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = "sigmoid"
    label_smoothing: float = 0.0
    sft_weight: float = 0.0
    ref_model: str | None = None
    precompute_ref: bool = False
    engine: Literal["sfmed", "trl"] = "sfmed"


@dataclass
class RmCfg:
    num_models: int = 1
    seeds: list[int] | None = None
    models: list[str] | None = None
    input: str | None = None
    output: str | None = None
    batch_size: int = 8


@dataclass
class PtCfg:
    general: str | None = None
    general_ratio: float = 0.0
    general_ratio_unit: Literal["tokens", "documents"] = "tokens"


@dataclass
class Job:
    version: int
    stage: Literal["pt", "sft", "rm", "dpo"]
    model: str
    output_dir: str
    mode: Literal["train", "score"] = "train"
    resume_from: str | None = None
    device: str = "auto"
    cutoff_len: int = 2048
    system: str | None = None
    data: DataCfg | None = None
    train: TrainCfg = field(default_factory=TrainCfg)
    optimizer: OptimCfg = field(default_factory=OptimCfg)
    dpo: DpoCfg = field(default_factory=DpoCfg)
    rm: RmCfg = field(default_factory=RmCfg)
    pt: PtCfg = field(default_factory=PtCfg)
    # Warnings found while reading the job (`warning` events, EVENTS.md); not part of the job document.
    warnings: list[dict[str, Any]] = field(default_factory=list, compare=False)
    # Optimizer steps the α guard was checked against when the job was read (None: checked at trainer start).
    alpha_checked_steps: int | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


_PATH_KEYS = {
    "": ["model", "output_dir", "resume_from"],
    "data": ["train", "eval"],
    "optimizer": ["base_model", "sft_model"],
    "dpo": ["ref_model"],
    "rm": ["input", "output"],
    "pt": ["general"],
}


def _resolve(base: Path, p: str) -> str:
    return p if os.path.isabs(p) else str((base / p).resolve())


def parse_job(doc: dict[str, Any], base_dir: str | os.PathLike = ".", file: str | None = None) -> Job:
    """Validate a job document and build the typed Job. Relative paths resolve against base_dir."""
    validate_job(doc, file)
    base = Path(base_dir)
    d = json.loads(json.dumps(doc))  # deep copy
    for sect, keys in _PATH_KEYS.items():
        target = d if not sect else d.get(sect)
        if isinstance(target, dict):
            for k in keys:
                if isinstance(target.get(k), str):
                    target[k] = _resolve(base, target[k])
    if isinstance(d.get("rm"), dict) and d["rm"].get("models"):
        d["rm"]["models"] = [_resolve(base, m) for m in d["rm"]["models"]]
    job = Job(
        version=d["version"],
        stage=d["stage"],
        model=d["model"],
        output_dir=d["output_dir"],
        mode=d.get("mode", "train"),
        resume_from=d.get("resume_from"),
        device=d.get("device", "auto"),
        cutoff_len=d.get("cutoff_len", 2048),
        system=d.get("system"),
        data=DataCfg(**d["data"]) if "data" in d else None,
        train=TrainCfg(**d.get("train", {})),
        optimizer=OptimCfg(
            **{
                **d.get("optimizer", {}),
                **({"betas": tuple(d["optimizer"]["betas"])} if "betas" in d.get("optimizer", {}) else {}),
            }
        ),
        dpo=DpoCfg(**d.get("dpo", {})),
        rm=RmCfg(**d.get("rm", {})),
        pt=PtCfg(**d.get("pt", {})),
    )
    if job.train.dropout is None:
        job.train.dropout = DPO_DROPOUT if job.stage == "dpo" else PAPER_DROPOUT
    if job.rm.seeds is not None and len(job.rm.seeds) != job.rm.num_models:
        raise JobError("rm.seeds", f"needs {job.rm.num_models} entries (rm.num_models), got {len(job.rm.seeds)}", file)
    if job.optimizer.name != "adamw" and job.stage not in ("dpo", "sft", "pt"):
        raise JobError("optimizer.name", f"{job.optimizer.name} applies to causal-LM stages, not {job.stage!r}", file)
    if job.dpo.engine == "trl" and job.dpo.loss_type == "sigmoid" and job.dpo.label_smoothing > 0:
        raise JobError(
            "dpo.label_smoothing",
            "engine trl: TRL's sigmoid loss has no label smoothing (cDPO); use loss_type robust, or engine sfmed",
            file,
        )
    if job.train.sharding == "deepspeed":
        if job.stage != "dpo" or job.dpo.engine != "trl":
            raise JobError(
                "train.sharding",
                "deepspeed (ZeRO-3) runs through transformers' Trainer: stage dpo with "
                "dpo.engine trl; use fsdp for the built-in loop",
                file,
            )
        if job.optimizer.name != "adamw" and job.optimizer.rescale == "l1":
            # OnDARE/OnTIES run on each rank's partition (ds_merge.py); an L1 norm would be a partition's, not the
            # tensor's.
            raise JobError(
                "optimizer.rescale",
                "l1 is not supported under DeepSpeed ZeRO-3 (its norms would be "
                "taken per partition); use inverse_keep or none, or train.sharding fsdp with dpo.engine "
                "sfmed",
                file,
            )
        if job.dpo.precompute_ref:
            raise JobError(
                "dpo.precompute_ref",
                "not with train.sharding deepspeed: the reference is a ZeRO-3 "
                "inference engine there; drop precompute_ref or put ref log-probs in the records",
                file,
            )
    if job.optimizer.name in ("ondare", "onties") and job.optimizer.alpha > 0:
        steps = planned_steps(job)
        if steps is not None:
            w = check_alpha(job.optimizer, steps, file)
            job.alpha_checked_steps = steps
            if w:
                job.warnings.append(w)
    return job


def _count_rows(path: str) -> int:
    """Non-empty lines of a JSONL file (one record each)."""
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                n += 1
    return n


def planned_steps(job: Job, world: int | None = None) -> int | None:
    """Optimizer steps the job will take, when they are known before any data is tokenised: `train.max_steps`,
    else epochs × ⌈rows / (batch_size × grad_accum × world_size)⌉ for record stages (one row per example, less
    the eval split; an upper bound: the loop drops a last partial step). None for pt without max_steps (its
    examples are packed blocks) or when the data file cannot be read yet; the trainer checks again at start."""
    t = job.train
    if t.max_steps:
        return t.max_steps
    if job.stage == "pt" or job.mode != "train" or job.data is None:
        return None
    try:
        rows = _count_rows(job.data.train)
    except OSError:
        return None
    if job.data.max_samples is not None:
        rows = min(rows, job.data.max_samples)
    if not job.data.eval and job.data.eval_ratio:
        rows -= max(1, int(round(rows * job.data.eval_ratio)))
    world = world if world is not None else int(os.environ.get("WORLD_SIZE", "1") or 1)
    per_step = t.batch_size * t.grad_accum * max(1, world)
    return max(1, math.ceil(t.epochs * max(1, math.ceil(max(rows, 0) / per_step))))


def check_alpha(opt: OptimCfg, steps: int, file: str | None = None) -> dict[str, Any] | None:
    """The α guard of online merging. OnDARE/OnTIES add α·τ' to the weights on every optimizer step,
    independent of lr, so α × steps is the share of τ the run adds. Above ALPHA_STEPS_HARD_BOUND: JobError on
    `optimizer.alpha` unless `optimizer.allow_large_alpha`; above ALPHA_STEPS_SOFT_BOUND (or above the hard one
    when allowed): returns a warning record ({code, key, message, alpha, steps, alpha_steps}); else None."""
    if opt.name not in ("ondare", "onties") or opt.alpha <= 0 or steps <= 0:
        return None
    prod = opt.alpha * steps
    if prod <= ALPHA_STEPS_SOFT_BOUND:
        return None
    what = (
        f"alpha = {opt.alpha:g} over {steps} optimizer steps gives alpha x steps = {prod:.3g}: {opt.name} adds "
        f"alpha*tau' to the weights on every optimizer step, independent of lr, so the run adds about "
        f"{prod:.3g} x tau on top of training. The official value is alpha = 1e-7 with p = 0.01 (Lu et al. 2024)"
    )
    if prod > ALPHA_STEPS_HARD_BOUND and not opt.allow_large_alpha:
        raise JobError(
            "optimizer.alpha",
            f"{what}; alpha x steps must stay <= {ALPHA_STEPS_HARD_BOUND:g} (lower "
            f"alpha or the steps, or set optimizer.allow_large_alpha: true)",
            file,
        )
    bound = ALPHA_STEPS_HARD_BOUND if prod > ALPHA_STEPS_HARD_BOUND else ALPHA_STEPS_SOFT_BOUND
    allowed = " (allowed by optimizer.allow_large_alpha)" if prod > ALPHA_STEPS_HARD_BOUND else ""
    return {
        "code": "alpha_steps",
        "key": "optimizer.alpha",
        "alpha": opt.alpha,
        "steps": steps,
        "alpha_steps": prod,
        "bound": bound,
        "message": f"optimizer.alpha: {what}; above {bound:g}{allowed}",
    }


def load_job(path: str | os.PathLike) -> Job:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise JobError("", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", str(p)) from e
    return parse_job(doc, p.parent, str(p))
