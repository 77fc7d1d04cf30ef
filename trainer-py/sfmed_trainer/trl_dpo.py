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
import time
from typing import TYPE_CHECKING, Any

import torch

from .config import JobError
from .events import log

if TYPE_CHECKING:
    from .trainer import Runner

# TRL's log keys → this package's event keys (EVENTS.md).
_KEYS = {
    "loss": "loss",
    "grad_norm": "grad_norm",
    "rewards/chosen": "rewards_chosen",
    "rewards/rejected": "rewards_rejected",
    "rewards/accuracies": "reward_accuracy",
    "rewards/margins": "reward_margin",
    "logps/chosen": "logps_chosen",
    "logps/rejected": "logps_rejected",
}


def check_supported(runner: "Runner") -> None:
    """Fail before any model loads when the run asks for something the TRL engine does not do. (What the job
    file alone decides is refused when it is read, in config.parse_job; FSDP can also come from the launcher.)"""
    if runner.fsdp:
        raise JobError("dpo.engine", "engine trl does not run with train.sharding fsdp; use engine sfmed "
                       "(FSDP with online merging on shards)")


def _rows(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for e in examples:
        r = {"prompt_ids": e["prompt_ids"], "chosen_ids": e["response_ids"][0], "rejected_ids": e["response_ids"][1]}
        if "ref_logps" in e:
            r["ref_chosen_logps"], r["ref_rejected_logps"] = float(e["ref_logps"][0]), float(e["ref_logps"][1])
        rows.append(r)
    return rows


def run_trl_dpo(runner: "Runner", train: list[dict[str, Any]], ev: list[dict[str, Any]]) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from .trainer import StepPlan, Stop, _atomic_save_dir, load_causal, lr_lambda

    check_supported(runner)
    job, t, d = runner.job, runner.job.train, runner.d
    resume = job.resume_from
    if resume and not os.path.exists(os.path.join(resume, "trainer_state.json")):
        raise JobError("resume_from", f"{resume} is not a TRL checkpoint (no trainer_state.json); "
                       "engine trl resumes from its own checkpoint-N folders")
    out_dir = job.output_dir
    os.makedirs(out_dir, exist_ok=True)
    # As make_dpo_task decides: no reference model when every record carries its log-probs or they are precomputed.
    precomputed = job.dpo.precompute_ref or all("ref_logps" in e for e in train + ev)
    deepspeed = runner.strategy == "deepspeed"
    if deepspeed and d.device.type == "cpu":
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # DeepSpeed's CPU accelerator talks over gloo
    n = len(train)
    plan = StepPlan.of(t, n, d)
    spe, total, warmup, use_bf16 = plan.steps_per_epoch, plan.total, plan.warmup, plan.bf16
    loss_types, weights = [job.dpo.loss_type], [1.0]
    if job.dpo.sft_weight > 0:
        loss_types.append("sft")
        weights.append(job.dpo.sft_weight)

    args = DPOConfig(
        output_dir=out_dir,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.lr,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm if t.max_grad_norm > 0 else 1e9,
        max_steps=total,  # our step count, so the schedule and the events agree with the built-in loop
        logging_steps=t.logging_steps,
        eval_strategy="steps" if ev else "no",
        eval_steps=plan.eval_every,
        save_strategy="steps",
        save_steps=plan.save_every,
        save_total_limit=t.save_total_limit,
        seed=t.seed,
        data_seed=t.seed,
        bf16=use_bf16,
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
        # ZeRO-3 with the job's optimizer; save_model gathers the 16-bit weights into one HF checkpoint.
        deepspeed={"zero_optimization": {"stage": 3, "overlap_comm": True,
                                         "stage3_gather_16bit_weights_on_model_save": True},
                   "bf16": {"enabled": use_bf16}, "train_micro_batch_size_per_gpu": "auto",
                   "train_batch_size": "auto", "gradient_accumulation_steps": "auto",
                   "gradient_clipping": "auto"} if deepspeed else None,
    )
    _ = args.device  # opens the process group
    if deepspeed:
        import deepspeed as ds

        # zero.Init reads the world size from deepspeed.comm, which accelerate leaves closed on CPU; this wraps
        # the open torch.distributed group (a no-op where accelerate already did it).
        ds.init_distributed(dist_backend="gloo" if d.device.type == "cpu" else "nccl")
    # Built after the config: with DeepSpeed, transformers then loads the weights straight into ZeRO-3 partitions.
    # The policy starts from the job's model; a TRL checkpoint in resume_from restores weights, optimizer,
    # scheduler and RNG on top of it.
    model = load_causal(job.model, t.dropout, d.device)
    task = runner.make_dpo_task(model, train, ev)  # loads the reference, or fills ref_logps into the examples
    if deepspeed and job.optimizer.name != "adamw":
        from .ds_merge import build_zero_merge_optimizer

        opt = build_zero_merge_optimizer(runner, model)  # merges on the ZeRO-3 partitions (ds_merge.py)
    else:
        opt = runner.build_optimizer(model)
    lr_fn = lr_lambda(t.scheduler, warmup, total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_fn)
    events = runner.events
    state: dict[str, Any] = {"interrupted": False, "best": {"loss": None, "step": None}, "last": (time.perf_counter(), 0.0)}
    tok = runner.tok

    class Bridge(TrainerCallback):
        """TRL logs → events; SIGINT/SIGTERM → save a checkpoint and stop; keep the best model by eval loss."""

        def on_train_begin(self, a, s, control, **kw):
            events.emit("start", stage="dpo", mode="train", engine="trl", world_size=d.world, device=str(d.device),
                        bf16=use_bf16, strategy=runner.strategy if deepspeed else ("ddp" if d.world > 1 else "single"),
                        requested_sharding=runner.asked_sharding,
                        n_train=n, n_eval=len(ev), total_steps=total, steps_per_epoch=spe, start_step=s.global_step,
                        params=sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters()), optimizer=job.optimizer.name,
                        output_dir=out_dir)

        def on_step_end(self, a, s, control, **kw):
            if Stop.requested:
                state["interrupted"] = True
                control.should_save = True
                control.should_training_stop = True
            elif s.global_step == total and ev:
                control.should_evaluate = True  # the built-in loop always evaluates the last step

        def on_log(self, a, s, control, logs=None, **kw):
            logs = logs or {}
            if "loss" in logs and "eval_loss" not in logs:
                fields = {_KEYS[k]: v for k, v in logs.items() if k in _KEYS}
                now, toks = time.perf_counter(), float(logs.get("num_tokens") or 0.0)
                last_t, last_toks = state["last"]
                state["last"] = (now, toks)
                rate = (toks - last_toks) / (now - last_t) if toks > last_toks and now > last_t else None
                # The rate this step used (transformers logs the scheduler's next one).
                lr = t.lr * lr_fn(s.global_step - 1)
                events.emit("step", step=s.global_step, total_steps=total, epoch=s.global_step / spe, lr=lr,
                            tokens_per_s=rate, **fields)

        def on_evaluate(self, a, s, control, metrics=None, model=None, **kw):
            m = metrics or {}
            if "eval_loss" not in m:
                return
            fields = {f"eval_{_KEYS[k[5:]]}": v for k, v in m.items() if k.startswith("eval_") and k[5:] in _KEYS and k != "eval_loss"}
            events.emit("eval", step=s.global_step, epoch=s.global_step / spe,
                        eval_loss=m["eval_loss"], n=len(ev), **fields)
            best = state["best"]
            if t.keep_best and (best["loss"] is None or m["eval_loss"] < best["loss"]):
                state["best"] = {"loss": m["eval_loss"], "step": s.global_step}
                save_hf(os.path.join(out_dir, "best"))

        def on_save(self, a, s, control, **kw):
            events.emit("checkpoint", step=s.global_step, path=os.path.join(out_dir, f"checkpoint-{s.global_step}"))

    class Trainer(DPOTrainer):
        # The examples arrive tokenised (encode_pair: chat template, prompt and response encoded apart, cut to
        # cutoff_len), so the same token ids reach both engines.
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

        def _precompute_ref_logps(self, dataset, name, batch_size):
            return dataset  # the columns are filled from the records or by make_dpo_task

        # Under DeepSpeed, transformers' deepspeed_init drops the optimizer and scheduler given to the Trainer
        # and builds its defaults (AdamW from the TrainingArguments, a linear schedule): the job's optimizer (OnDARE,
        # OnTIES, or AdamW with its betas/eps) and schedule are handed back here, so DeepSpeed steps them.
        def create_optimizer(self, model=None):
            self.optimizer = opt
            return opt

        def create_scheduler(self, num_training_steps, optimizer=None):
            self.lr_scheduler = sched
            return sched

    def save_hf(path: str) -> str:
        """Every rank calls this (ZeRO-3 gathers the weights); rank 0 writes into a temp folder, then renames."""
        tmp = path + ".tmp"
        if trainer.is_world_process_zero():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        trainer.save_model(tmp)  # weights + the tokenizer (processing_class)
        trainer.accelerator.wait_for_everyone()
        if trainer.is_world_process_zero():
            _atomic_save_dir(lambda _: None, path, prepared=tmp)
        trainer.accelerator.wait_for_everyone()
        return path

    trainer = Trainer(
        model=model,
        ref_model=task.ref,
        args=args,
        train_dataset=Dataset.from_list(_rows(train)),
        eval_dataset=Dataset.from_list(_rows(ev)) if ev else None,
        processing_class=tok,
        optimizers=(opt, sched),
        callbacks=[Bridge()],
    )
    # stdout carries only events: drop transformers' printer/progress callbacks (they write logs there).
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if resume:
        log(f"resuming from {resume}")
    trainer.train(resume_from_checkpoint=resume)
    step = trainer.state.global_step
    if state["interrupted"]:
        ck = os.path.join(out_dir, f"checkpoint-{step}")
        res = {"stage": "dpo", "engine": "trl", "interrupted": True, "step": step, "checkpoint": ck}
        events.emit("done", **res)
        return res
    final = save_hf(os.path.join(out_dir, "final"))
    best = state["best"]
    best_path = os.path.join(out_dir, "best") if best["step"] is not None else None
    chosen = best_path if (t.keep_best and best_path) else final
    res = {"stage": "dpo", "engine": "trl", "interrupted": False, "step": step, "model": chosen, "final_model": final,
           "best_model": best_path, "best_eval_loss": best["loss"], "best_step": best["step"]}
    events.emit("done", **res)
    return res
