"""The run context every stage shares (`Runner`): the job, this process (rank, device, sharding strategy),
the events, the tokenizer, model loading for the strategy, the optimizer, the train/eval split, resume
fallback, and `fit`, which runs the built-in loop (loop.TrainLoop) on one model. The stage recipes
(stages/) build on it."""

from __future__ import annotations

import os
from typing import Any

import torch

from . import sharding as S
from .checkpoint import is_checkpoint_name, newest_complete_checkpoint, sweep_stale
from .config import Job, JobError, check_alpha
from .events import Events, log
from .loop import Task, TrainLoop
from .model_io import load_tokenizer
from .optim import build_optimizer
from .runtime import barrier, setup_dist
from .schedule import StepPlan


class Runner:
    def __init__(self, job: Job, events: Events | None = None):
        self.job = job
        self.d = setup_dist(job)
        if job.mode != "train":
            self.strategy, self.asked_sharding = "single", None
        elif job.train.sharding == "deepspeed":  # transformers' Trainer drives DeepSpeed (trl_dpo.py)
            self.strategy = "deepspeed" if self.d.world > 1 else "single"
            self.asked_sharding = S.requested_sharding()
        else:
            self.strategy, self.asked_sharding = S.choose_strategy(job.train.sharding, self.d.world, self.d.main)
        self.events = events or Events(enabled=self.d.main)
        if not self.d.main:
            self.events.enabled = False
        self.tok = None
        self.pad_id = 0
        self.start_fields: dict[str, Any] = {}  # stage-specific fields of the `start` event (pt: token_mix)

    # ----------------------------------------------------------------------------------------- setup

    def prepare(self) -> None:
        """Before any stage: warnings as events; for training, clean up after a killed save and resolve
        resume_from; then the seed and the tokenizer."""
        job = self.job
        for w in job.warnings:
            self.events.emit("warning", **w)
        if job.mode == "train":
            if self.d.main:
                sweep_stale(job.output_dir)
            barrier()
            if job.resume_from:
                self.resolve_resume()
        torch.manual_seed(job.train.seed)
        self.tok = load_tokenizer(job.model)
        self.pad_id = self.tok.pad_token_id

    def resolve_resume(self) -> None:
        """`resume_from` names a checkpoint that is gone or incomplete (deleted, cut short by a full disk or a
        killed copy): fall back to the newest complete checkpoint-N beside it, with a `warning` event. It may
        also name the output folder itself, whose newest complete checkpoint is taken."""
        job = self.job
        asked = job.resume_from
        found = newest_complete_checkpoint(asked)
        if found is None:
            raise JobError(
                "resume_from",
                f"{asked} is not a complete checkpoint and no complete checkpoint-N "
                "is beside it (a checkpoint folder holds config.json, the weights and trainer_state)",
            )
        if os.path.normpath(found) != os.path.normpath(asked):
            not_ckpt = os.path.isdir(asked) and not is_checkpoint_name(asked)
            why = "is not a checkpoint folder" if not_ckpt else "is missing or incomplete"
            msg = f"resume_from: {asked} {why}; resuming from {found}, the newest complete checkpoint"
            log(f"warning: {msg}")
            self.events.emit(
                "warning", code="resume_fallback", key="resume_from", message=msg, requested=asked, resume_from=found
            )
            job.resume_from = found

    def check_train(self, train: list) -> None:
        """Refuse an empty training set; run the α guard on its size."""
        if not train:
            raise ValueError("data.train: no usable training examples")
        self.check_alpha(len(train))

    def check_alpha(self, n_train: int) -> None:
        """The α guard (config.check_alpha) with the real step count, when reading the job could not count
        the steps (pt's packed blocks, a data file written after validation)."""
        job = self.job
        if job.alpha_checked_steps is not None or job.stage == "rm":
            return
        w = check_alpha(job.optimizer, StepPlan.of(job.train, n_train, self.d).total)
        if w:
            log(f"warning: {w['message']}")
            self.events.emit("warning", **w)

    # ----------------------------------------------------------------------------------------- models

    @property
    def fsdp(self) -> bool:
        return self.strategy == "fsdp"

    def load(self, loader, path: str, dropout: float | None, **kw):
        """`loader` (load_causal / load_reward) for this run's strategy. FSDP: only rank 0 reads the checkpoint,
        into host memory; the other ranks build the model on the meta device, and once every rank has sharded
        it rank 0 broadcasts the weights, each rank keeping its slices (sharding.shard_from_rank0). Neither the
        accelerator nor the host of any other rank ever holds a full model."""
        if not self.fsdp:
            return loader(path, dropout, self.d.device, **kw)
        model = loader(path, dropout, None, empty=not self.d.main, **kw)
        return S.shard_from_rank0(model, self.d.device, **S.fsdp_policies(self.job.train, self.d.device, self.d.main))

    def shard(self, model):
        """FSDP2-shard a model already in memory (a no-op for other strategies or a model already sharded)."""
        if self.fsdp:
            S.shard_model(model, self.d.device, **S.fsdp_policies(self.job.train, self.d.device, self.d.main))
        return model

    def build_optimizer(self, model, sharded: bool = False):
        return build_optimizer(self.job, model, rank=self.d.rank, sharded=sharded)

    # ----------------------------------------------------------------------------------------- data

    def split(self, items: list, seed: int) -> tuple[list, list]:
        """(train, eval): a seeded eval_ratio split, unless the job names an eval file (or no ratio)."""
        cfg = self.job.data
        if cfg.eval or not cfg.eval_ratio:
            return items, []
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(items), generator=g).tolist()
        n_eval = max(1, int(round(len(items) * cfg.eval_ratio)))
        return [items[i] for i in perm[n_eval:]], [items[i] for i in perm[:n_eval]]

    # ----------------------------------------------------------------------------------------- loop

    def fit(
        self,
        model,
        task: Task,
        train,
        ev,
        out_dir: str,
        seed: int,
        model_index: int | None = None,
        resume: bool | None = None,
    ) -> dict[str, Any]:
        """Train `model` with the built-in loop; resumes from job.resume_from unless `resume` is False."""
        resume_dir = self.job.resume_from if (resume is None or resume) else None
        return TrainLoop(self, model, task, train, ev, out_dir, seed, model_index).run(resume_dir)
