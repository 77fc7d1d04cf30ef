"""DPO through TRL's `DPOTrainer` (`dpo.engine: "trl"`).

The examples, the chat-template tokenisation, the reference model (or precomputed reference log-probs), the
optimizer (AdamW, OnDARE, OnTIES with τ) and the learning-rate schedule are the ones the built-in loop uses; TRL
runs the loop, the loss and the checkpoints. A callback turns TRL's logs into this package's events and handles
SIGINT/SIGTERM, so Node sees the same event stream from either engine.

Differences from `engine: "sfmed"`, all deliberate:
- `dpo.sft_weight` maps to TRL's `"sft"` loss term, a token-level mean over the batch's chosen responses; the
  built-in loop averages per-sequence means. They agree for one example per batch.
- `loss_type: sigmoid` with `label_smoothing > 0` (cDPO) is refused: TRL ≥ 1.0 applies label smoothing only to
  `robust`.
- `train.sharding: fsdp` is refused: FSDP with online merging runs in the built-in loop (`sharding.py`).
  `train.sharding: deepspeed` runs DeepSpeed ZeRO-3 here. AdamW is torch's, stepped by DeepSpeed on the flat
  fp32 partitions; OnDARE/OnTIES become `ds_merge.ZeroMergeAdamW`, the inner optimizer that runs the same
  per-tensor merge on each parameter's slice of those partitions (τ sliced like the partition, OnDARE masks
  per rank, OnTIES's top-k global over the whole tensor). `rescale: l1` is refused there. transformers'
  deepspeed_init would replace the Trainer's optimizer and scheduler with its defaults; `create_optimizer` and
  `create_scheduler` hand back the job's.
- Checkpoints are TRL/transformers checkpoints (`checkpoint-N` with `optimizer.pt`, `scheduler.pt`,
  `rng_state.pth`, `trainer_state.json`); `resume_from` accepts those.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TYPE_CHECKING, Any, Callable

from .checkpoint import Best, final_result, interrupted_result, publish_prepared
from .config import JobError
from .events import log
from .model_io import load_causal
from .runtime import Stop
from .schedule import StepPlan

if TYPE_CHECKING:
    from .trainer import Runner

# TRL's log keys → this package's event keys (EVENTS.md).
KEYS = {
    "loss": "loss",
    "grad_norm": "grad_norm",
    "rewards/chosen": "rewards_chosen",
    "rewards/rejected": "rewards_rejected",
    "rewards/accuracies": "reward_accuracy",
    "rewards/margins": "reward_margin",
    "logps/chosen": "logps_chosen",
    "logps/rejected": "logps_rejected",
}
HEAD = {"stage": "dpo", "engine": "trl"}


def check_supported(runner: "Runner") -> None:
    """Fail before any model loads when the run asks for something the TRL engine does not do. (What the job
    file alone decides is refused when it is read, in config.parse_job; FSDP can also come from the launcher.)"""
    if runner.fsdp:
        raise JobError(
            "dpo.engine",
            "engine trl does not run with train.sharding fsdp; use engine sfmed (FSDP with online merging on shards)",
        )


def rows(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tokenised examples as TRL's dataset rows (reference log-probs included when known)."""
    out = []
    for e in examples:
        r = {"prompt_ids": e["prompt_ids"], "chosen_ids": e["response_ids"][0], "rejected_ids": e["response_ids"][1]}
        if "ref_logps" in e:
            r["ref_chosen_logps"], r["ref_rejected_logps"] = float(e["ref_logps"][0]), float(e["ref_logps"][1])
        out.append(r)
    return out


def deepspeed_config(bf16: bool) -> dict:
    """ZeRO-3 with the job's optimizer; save_model gathers the 16-bit weights into one HF checkpoint."""
    return {
        "zero_optimization": {"stage": 3, "overlap_comm": True, "stage3_gather_16bit_weights_on_model_save": True},
        "bf16": {"enabled": bf16},
        "train_micro_batch_size_per_gpu": "auto",
        "train_batch_size": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
    }


def dpo_config(runner: "Runner", plan: StepPlan, precomputed: bool, deepspeed: bool, has_eval: bool):
    """TRL's DPOConfig for the job: our step count and schedule, so events agree with the built-in loop."""
    from trl import DPOConfig

    job, t, d = runner.job, runner.job.train, runner.d
    loss_types, weights = [job.dpo.loss_type], [1.0]
    if job.dpo.sft_weight > 0:
        loss_types.append("sft")
        weights.append(job.dpo.sft_weight)
    return DPOConfig(
        output_dir=job.output_dir,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.lr,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm if t.max_grad_norm > 0 else 1e9,
        max_steps=plan.total,
        logging_steps=t.logging_steps,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=plan.eval_every,
        save_strategy="steps",
        save_steps=plan.save_every,
        save_total_limit=t.save_total_limit,
        seed=t.seed,
        data_seed=t.seed,
        bf16=plan.bf16,
        use_cpu=d.device.type == "cpu",
        gradient_checkpointing=t.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        report_to=[],
        disable_tqdm=True,
        disable_dropout=False,  # train.dropout decides (0 by default for dpo); the reference runs in eval mode
        max_length=None,  # examples are already cut to cutoff_len by encode_pair
        beta=job.dpo.beta,
        loss_type=loss_types,
        loss_weights=weights,
        label_smoothing=job.dpo.label_smoothing,
        precompute_ref_log_probs=precomputed,
        dataloader_num_workers=0,
        save_only_model=False,
        deepspeed=deepspeed_config(plan.bf16) if deepspeed else None,
    )


class Session:
    """One TRL run's shared state: the plan, the events, the best eval, and saving a model atomically."""

    def __init__(self, runner: "Runner", plan: StepPlan, n_eval: int, lr_fn: Callable[[int], float]):
        self.runner, self.plan, self.n_eval, self.lr_fn = runner, plan, n_eval, lr_fn
        self.out_dir = runner.job.output_dir
        self.interrupted = False
        self.best = Best()
        self.last = (time.perf_counter(), 0.0)
        self.trainer = None

    def save_hf(self, path: str) -> str:
        """Every rank calls this (ZeRO-3 gathers the weights); rank 0 writes into a temp folder, then renames."""
        tr = self.trainer
        tmp = path + ".tmp"
        if tr.is_world_process_zero():
            shutil.rmtree(tmp, ignore_errors=True)
        tr.save_model(tmp)  # weights + the tokenizer (processing_class)
        tr.accelerator.wait_for_everyone()
        if tr.is_world_process_zero():
            publish_prepared(tmp, path)
        tr.accelerator.wait_for_everyone()
        return path

    def step_fields(self, step: int, logs: dict) -> dict:
        """A `step` event's fields from TRL's training log."""
        fields = {KEYS[k]: v for k, v in logs.items() if k in KEYS}
        now, toks = time.perf_counter(), float(logs.get("num_tokens") or 0.0)
        last_t, last_toks = self.last
        self.last = (now, toks)
        rate = (toks - last_toks) / (now - last_t) if toks > last_toks and now > last_t else None
        # The rate this step used (transformers logs the scheduler's next one).
        lr = self.runner.job.train.lr * self.lr_fn(step - 1)
        spe = self.plan.steps_per_epoch
        return dict(step=step, total_steps=self.plan.total, epoch=step / spe, lr=lr, tokens_per_s=rate, **fields)

    def on_eval(self, step: int, metrics: dict) -> None:
        """The `eval` event, and the best model kept by eval loss."""
        extra = {f"eval_{KEYS[k[5:]]}": v for k, v in metrics.items() if k.startswith("eval_") and k[5:] in KEYS}
        extra.pop("eval_loss", None)
        el = metrics["eval_loss"]
        epoch = step / self.plan.steps_per_epoch
        self.runner.events.emit("eval", step=step, epoch=epoch, eval_loss=el, n=self.n_eval, **extra)
        if self.runner.job.train.keep_best and self.best.improved_by(el):
            self.best = Best(el, step)
            self.save_hf(os.path.join(self.out_dir, "best"))


def bridge(session: Session, model, start_fields: dict):
    """A TrainerCallback: TRL logs → events; SIGINT/SIGTERM → save a checkpoint and stop; keep the best model."""
    from transformers import TrainerCallback

    events, total, has_eval = session.runner.events, session.plan.total, session.n_eval > 0

    class Bridge(TrainerCallback):
        def on_train_begin(self, a, s, control, **kw):
            params = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())
            events.emit("start", **start_fields, start_step=s.global_step, params=params)

        def on_step_end(self, a, s, control, **kw):
            if Stop.requested:
                session.interrupted = True
                control.should_save = True
                control.should_training_stop = True
            elif s.global_step == total and has_eval:
                control.should_evaluate = True  # the built-in loop always evaluates the last step

        def on_log(self, a, s, control, logs=None, **kw):
            logs = logs or {}
            if "loss" in logs and "eval_loss" not in logs:
                events.emit("step", **session.step_fields(s.global_step, logs))

        def on_evaluate(self, a, s, control, metrics=None, model=None, **kw):
            if "eval_loss" in (metrics or {}):
                session.on_eval(s.global_step, metrics)

        def on_save(self, a, s, control, **kw):
            path = os.path.join(session.out_dir, f"checkpoint-{s.global_step}")
            events.emit("checkpoint", step=s.global_step, path=path)

    return Bridge()


def trainer_class(opt, sched):
    """DPOTrainer for examples that arrive tokenised, stepping the job's optimizer and schedule."""
    from trl import DPOTrainer

    class Trainer(DPOTrainer):
        # The examples arrive tokenised (encode_pair: chat template, prompt and response encoded apart, cut to
        # cutoff_len), so the same token ids reach both engines.
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

        def _precompute_ref_logps(self, dataset, name, batch_size):
            return dataset  # the columns are filled from the records or by make_dpo_task

        # Under DeepSpeed, transformers' deepspeed_init drops the optimizer and scheduler given to the Trainer
        # and builds its defaults (AdamW from the TrainingArguments, a linear schedule): the job's optimizer
        # (OnDARE, OnTIES, or AdamW with its betas/eps) and schedule are handed back here, so DeepSpeed steps them.
        def create_optimizer(self, model=None):
            self.optimizer = opt
            return opt

        def create_scheduler(self, num_training_steps, optimizer=None):
            self.lr_scheduler = sched
            return sched

    return Trainer


def open_deepspeed(runner: "Runner") -> None:
    """zero.Init reads the world size from deepspeed.comm, which accelerate leaves closed on CPU; this wraps
    the open torch.distributed group (a no-op where accelerate already did it)."""
    import deepspeed as ds

    ds.init_distributed(dist_backend="gloo" if runner.d.device.type == "cpu" else "nccl")


def build_optimizer(runner: "Runner", model, deepspeed: bool):
    """The job's optimizer; OnDARE/OnTIES under ZeRO-3 merge on the partitions (ds_merge.py)."""
    if deepspeed and runner.job.optimizer.name != "adamw":
        from .ds_merge import build_zero_merge_optimizer

        return build_zero_merge_optimizer(runner, model)
    return runner.build_optimizer(model)


def start_fields(runner: "Runner", plan: StepPlan, n: int, n_eval: int, deepspeed: bool) -> dict:
    d, job = runner.d, runner.job
    strategy = runner.strategy if deepspeed else ("ddp" if d.world > 1 else "single")
    return dict(
        stage="dpo", mode="train", engine="trl", world_size=d.world, device=str(d.device), bf16=plan.bf16,
        strategy=strategy, requested_sharding=runner.asked_sharding, n_train=n, n_eval=n_eval,
        total_steps=plan.total, steps_per_epoch=plan.steps_per_epoch, optimizer=job.optimizer.name,
        output_dir=job.output_dir,
    )  # fmt: skip


def check_resume(resume: str | None) -> None:
    if resume and not os.path.exists(os.path.join(resume, "trainer_state.json")):
        raise JobError(
            "resume_from",
            f"{resume} is not a TRL checkpoint (no trainer_state.json); engine trl resumes from its own "
            "checkpoint-N folders",
        )


def run_trl_dpo(runner: "Runner", train: list, ev: list, make_task: Callable[[Any], Any]) -> dict[str, Any]:
    """Train with TRL's DPOTrainer. `make_task(model)` gives the DPO task (its reference model, or the
    examples' reference log-probs filled in): stages.dpo.make_dpo_task."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    check_supported(runner)
    job, t, d = runner.job, runner.job.train, runner.d
    check_resume(job.resume_from)
    os.makedirs(job.output_dir, exist_ok=True)
    # As make_dpo_task decides: no reference model when every record carries its log-probs or they are precomputed.
    precomputed = job.dpo.precompute_ref or all("ref_logps" in e for e in train + ev)
    deepspeed = runner.strategy == "deepspeed"
    if deepspeed and d.device.type == "cpu":
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # DeepSpeed's CPU accelerator talks over gloo
    plan = StepPlan.of(t, len(train), d)
    args = dpo_config(runner, plan, precomputed, deepspeed, bool(ev))
    _ = args.device  # opens the process group
    if deepspeed:
        open_deepspeed(runner)
    # Built after the config: with DeepSpeed, transformers then loads the weights straight into ZeRO-3 partitions.
    # The policy starts from the job's model; a TRL checkpoint in resume_from restores weights, optimizer,
    # scheduler and RNG on top of it.
    model = load_causal(job.model, t.dropout, d.device)
    task = make_task(model)  # loads the reference, or fills ref_logps into the examples
    opt = build_optimizer(runner, model, deepspeed)
    sched = plan.scheduler(opt, t.scheduler)
    session = Session(runner, plan, len(ev), plan.lr_lambda(t.scheduler))
    trainer = trainer_class(opt, sched)(
        model=model,
        ref_model=task.ref,
        args=args,
        train_dataset=Dataset.from_list(rows(train)),
        eval_dataset=Dataset.from_list(rows(ev)) if ev else None,
        processing_class=runner.tok,
        optimizers=(opt, sched),
        callbacks=[bridge(session, model, start_fields(runner, plan, len(train), len(ev), deepspeed))],
    )
    session.trainer = trainer
    # stdout carries only events: drop transformers' printer/progress callbacks (they write logs there).
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if job.resume_from:
        log(f"resuming from {job.resume_from}")
    trainer.train(resume_from_checkpoint=job.resume_from)
    step = trainer.state.global_step
    if session.interrupted:
        res = interrupted_result(HEAD, step, job.output_dir)
    else:
        final = session.save_hf(os.path.join(job.output_dir, "final"))
        res = final_result(HEAD, step, job.output_dir, final, session.best, t.keep_best)
    runner.events.emit("done", **res)
    return res
