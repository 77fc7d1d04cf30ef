"""The built-in training loop every stage runs (pt, sft, rm, dpo with engine "sfmed"): deterministic data
order, gradient accumulation, the LR schedule, clipping, eval + keep-best, checkpoints, exact resume and a
checkpoint on SIGINT/SIGTERM, on one process, DDP or FSDP2. A stage supplies a Task (batches and loss)."""

from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Any

import torch
import torch.distributed as dist

from . import sharding as S
from .checkpoint import (
    Best,
    atomic_save_dir,
    final_result,
    has_trainer_state,
    interrupted_result,
    prune_checkpoints,
    publish_prepared,
    restore_trainer_state,
    trainer_state,
)
from .events import log
from .model_io import save_pretrained, unwrap
from .runtime import stop_requested, to_device
from .schedule import StepPlan


class Task:
    """Stage-specific parts of the loop: batch building and loss."""

    name = "task"

    def __init__(self, runner):
        self.r = runner

    def batch(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def loss(self, model, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float], int]:
        """(mean loss, metrics to average, tokens in the batch)."""
        raise NotImplementedError


def all_reduce_sums(values: list[float]) -> list[float]:
    """Element-wise sums over all ranks (float64)."""
    vec = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(vec)
    return vec.tolist()


class TrainLoop:
    """One model's training run over `train`, evaluated on `ev`, written to `out_dir`. `runner` (trainer.Runner)
    holds the job, the process (rank, device, strategy), the events, the tokenizer and builds the optimizer."""

    def __init__(self, runner, model, task: Task, train, ev, out_dir: str, seed: int, model_index: int | None = None):
        self.r, self.job, self.t, self.d = runner, runner.job, runner.job.train, runner.d
        self.task, self.train_set, self.ev, self.out_dir, self.seed = task, train, ev, out_dir, seed
        self.tag = {} if model_index is None else {"model_index": model_index}
        self.fsdp = runner.fsdp
        os.makedirs(out_dir, exist_ok=True)
        self.base = model
        self.model = self._wrap(model)
        self.opt = runner.build_optimizer(self.model, sharded=self.fsdp)
        self.plan = StepPlan.of(self.t, len(train), self.d)
        self.sched = self.plan.scheduler(self.opt, self.t.scheduler)
        self.start, self.best = 0, Best()
        self._perms: dict[int, list[int]] = {}

    def _wrap(self, model):
        """Gradient checkpointing, no KV cache, then FSDP2 sharding or a DDP wrapper for several ranks."""
        if self.t.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
        if self.fsdp:
            self.r.shard(model)  # no-op when the stage already sharded it (the reference is sharded too)
        elif self.d.world > 1:
            ids = [self.d.device.index] if self.d.device.type == "cuda" else None
            model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        return model

    # ----------------------------------------------------------------------------------------- run

    def run(self, resume_dir: str | None = None) -> dict[str, Any]:
        if has_trainer_state(resume_dir):
            self.start, best = restore_trainer_state(
                resume_dir, unwrap(self.model), self.opt, self.sched, self.fsdp, self.d.rank, self.d.world
            )
            self.best = Best(**best)
            log(f"resumed from {resume_dir} at step {self.start}")
        self._emit_start()
        self.model.train()
        step = self.start
        while step < self.plan.total:
            if stop_requested(self.d):
                return self._done(interrupted_result(self._head(), step, self.out_dir, **self.tag), step)
            step = self._train_step(step)
            self._after_step(step)
        return self._done(self._finish(step))

    def _head(self) -> dict:
        return {"stage": self.job.stage}

    def _emit_start(self) -> None:
        job, d, plan = self.job, self.d, self.plan
        self.r.events.emit(
            "start", stage=job.stage, mode=job.mode, world_size=d.world, device=str(d.device), bf16=plan.bf16,
            strategy=self.r.strategy, requested_sharding=self.r.asked_sharding, n_train=len(self.train_set),
            n_eval=len(self.ev), total_steps=plan.total, steps_per_epoch=plan.steps_per_epoch,
            start_step=self.start, params=sum(p.numel() for p in self.base.parameters()),
            optimizer=job.optimizer.name, output_dir=self.out_dir, **self.r.start_fields, **self.tag,
        )  # fmt: skip

    def _done(self, res: dict, checkpoint_step: int | None = None) -> dict:
        if checkpoint_step is not None:
            self.save_checkpoint(checkpoint_step)
        self.r.events.emit("done", **res)
        return res

    def _finish(self, step: int) -> dict:
        extra = {}
        if self.d.world > 1 and not self.fsdp:
            extra["replica_max_diff"] = replica_diff(self.base)
        final = self.save_model("final")
        return final_result(self._head(), step, self.out_dir, final, self.best, self.t.keep_best, **extra, **self.tag)

    # ----------------------------------------------------------------------------------------- one step

    def _perm(self, epoch: int) -> list[int]:
        """The epoch's example order: a permutation seeded by (seed, epoch), the same on every rank."""
        if epoch not in self._perms:
            self._perms.clear()
            g = torch.Generator().manual_seed(self.seed * 1000 + epoch)
            self._perms[epoch] = torch.randperm(len(self.train_set), generator=g).tolist()
        return self._perms[epoch]

    def _micro_batch(self, step: int, j: int) -> list:
        """The examples of micro-batch j of `step` on this rank (rank-interleaved within the step)."""
        t, d, n = self.t, self.d, len(self.train_set)
        epoch, pos = divmod(step, self.plan.steps_per_epoch)
        order = self._perm(epoch)
        first = pos * self.plan.per_step + (j * d.world + d.rank) * t.batch_size
        return [self.train_set[order[(first + i) % n]] for i in range(t.batch_size)]

    def _autocast(self):
        return torch.autocast(device_type=self.d.device.type, dtype=torch.bfloat16, enabled=self.plan.bf16)

    def _accumulate(self, step: int) -> tuple[float, int, dict]:
        """Forward and backward over the step's grad_accum micro-batches; gradients sync on the last one.
        Returns (loss, tokens, metrics) averaged over the micro-batches, this rank's."""
        t, d, model = self.t, self.d, self.model
        loss_sum, toks, agg = 0.0, 0, {}
        for j in range(t.grad_accum):
            b = to_device(self.task.batch(self._micro_batch(step, j)), d.device)
            sync = d.world == 1 or j == t.grad_accum - 1
            if self.fsdp:
                S.set_grad_sync(model, sync)
            no_sync = d.world > 1 and not sync and not self.fsdp
            with model.no_sync() if no_sync else contextlib.nullcontext():
                with self._autocast():
                    loss, m, ntok = self.task.loss(model, b)
                (loss / t.grad_accum).backward()
            loss_sum += loss.item() / t.grad_accum
            toks += ntok
            for k, v in m.items():
                agg[k] = agg.get(k, 0.0) + v / t.grad_accum
        return loss_sum, toks, agg

    def _train_step(self, step: int) -> int:
        """One optimizer step (clip, step, schedule) and its `step` event; returns the new step count."""
        t, d = self.t, self.d
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        loss_sum, toks, agg = self._accumulate(step)
        clip = t.max_grad_norm if t.max_grad_norm > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        grad_norm = (grad_norm.full_tensor() if S.is_dtensor(grad_norm) else grad_norm).item()
        lr = self.sched.get_last_lr()[0]
        self.opt.step()
        self.sched.step()
        step += 1
        if d.world > 1:
            keys = sorted(agg)
            vec = all_reduce_sums([loss_sum, float(toks)] + [agg[k] for k in keys])
            loss_sum, toks = vec[0] / d.world, int(vec[1])
            agg = {k: vec[2 + i] / d.world for i, k in enumerate(keys)}
        dt = time.perf_counter() - t0
        total = self.plan.total
        if step % t.logging_steps == 0 or step == total:
            self.r.events.emit(
                "step", step=step, total_steps=total, epoch=step / self.plan.steps_per_epoch, loss=loss_sum,
                lr=lr, grad_norm=grad_norm, tokens_per_s=toks / dt if dt > 0 else None, **agg, **self.tag,
            )  # fmt: skip
        return step

    def _after_step(self, step: int) -> None:
        """Evaluate (and keep the best model) and checkpoint on their schedules."""
        plan = self.plan
        if step % plan.eval_every == 0 or step == plan.total:
            el = self.evaluate(step)
            if self.t.keep_best and self.best.improved_by(el):
                self.best = Best(el, step)
                self.save_model("best")
        if step % plan.save_every == 0 and step != plan.total:
            self.save_checkpoint(step)

    # ----------------------------------------------------------------------------------------- eval

    def _eval_shard(self) -> tuple[list, int]:
        """This rank's eval examples and how many of them count. FSDP: every rank must run as many forwards
        (each all-gathers), so the shard is padded with weight-0 examples."""
        d, ev = self.d, self.ev
        shard = ev[d.rank :: d.world]
        n_local = len(shard)
        if self.fsdp:
            longest = math.ceil(len(ev) / d.world)
            shard = shard + ev[: longest - len(shard)]
        return shard, n_local

    def evaluate(self, step: int) -> float | None:
        if not self.ev:
            return None
        t, d, model = self.t, self.d, self.model
        model.eval()
        tot, cnt, agg = 0.0, 0, {}
        shard, n_local = self._eval_shard()
        with torch.no_grad(), self._autocast():
            for i in range(0, len(shard), t.batch_size):
                chunk = shard[i : i + t.batch_size]
                w = max(0, min(len(chunk), n_local - i))
                loss, m, _ = self.task.loss(model, to_device(self.task.batch(chunk), d.device))
                tot += loss.item() * w
                cnt += w
                for k, v in m.items():
                    agg[k] = agg.get(k, 0.0) + v * w
        if d.world > 1:
            keys = sorted(agg)
            vec = all_reduce_sums([tot, cnt] + [agg[k] for k in keys])
            tot, cnt = vec[0], vec[1]
            agg = {k: vec[2 + i] for i, k in enumerate(keys)}
        if self.fsdp:
            S.reshard(model)
        model.train()
        el = tot / max(cnt, 1)
        means = {f"eval_{k}": v / max(cnt, 1) for k, v in agg.items()}
        epoch = step / self.plan.steps_per_epoch
        self.r.events.emit("eval", step=step, epoch=epoch, eval_loss=el, n=cnt, **means, **self.tag)
        return el

    # ----------------------------------------------------------------------------------------- saving

    def _state(self, step: int, optimizer: dict | None) -> dict:
        shards = self.d.world if self.fsdp else None
        return trainer_state(step, optimizer, self.sched, self.best.as_dict(), self.job.stage, shards)

    def save_checkpoint(self, step: int) -> str:
        """checkpoint-{step}: HF weights, tokenizer, trainer state, optimizer state (one shard per FSDP rank)."""
        path = os.path.join(self.out_dir, f"checkpoint-{step}")
        if self.fsdp:
            self._save_sharded_checkpoint(step, path)
        elif self.d.main:

            def build(tmp):
                save_pretrained(self.model, self.r.tok, tmp)
                torch.save(self._state(step, self.opt.state_dict()), os.path.join(tmp, "trainer_state.pt"))

            atomic_save_dir(build, path)
        if self.d.main:
            prune_checkpoints(self.out_dir, self.t.save_total_limit)
            self.r.events.emit("checkpoint", step=step, path=path, **self.tag)
        if self.fsdp:
            S.barrier()
        elif self.d.world > 1:
            dist.barrier()
        return path

    def _save_sharded_checkpoint(self, step: int, path: str) -> None:
        """Gathered HF weights + trainer state from rank 0, one optimizer-state shard per rank, all written into
        the temp folder before rank 0 renames it (the folder must be on storage every rank sees)."""
        sd = S.full_state_dict(self.model)
        tmp = path + ".tmp"
        if self.d.main:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            save_pretrained(self.model, self.r.tok, tmp, state_dict=sd)
            torch.save(self._state(step, None), os.path.join(tmp, "trainer_state.pt"))
        del sd
        S.barrier()
        S.save_optimizer(unwrap(self.model), self.opt, tmp)
        S.barrier()
        if self.d.main:
            publish_prepared(tmp, path)

    def save_model(self, name: str) -> str:
        """out_dir/name: the HF model (gathered from the shards under FSDP) and the tokenizer."""
        path = os.path.join(self.out_dir, name)
        sd = S.full_state_dict(self.model) if self.fsdp else None
        if self.d.main:
            atomic_save_dir(lambda tmp: save_pretrained(self.model, self.r.tok, tmp, state_dict=sd), path)
        sd = None  # the gathered weights (FSDP) are freed before the barrier
        if self.fsdp:
            S.barrier()
        elif self.d.world > 1:
            dist.barrier()
        return path


@torch.no_grad()
def replica_diff(model) -> float:
    """Largest |θ_rank − θ_max| over all ranks and parameters: 0.0 when the replicas are identical."""
    worst = torch.zeros((), dtype=torch.float64)
    for p in model.parameters():
        m = p.detach().clone()
        dist.all_reduce(m, op=dist.ReduceOp.MAX)
        worst = torch.maximum(worst, (m - p).abs().max().double().cpu())
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return worst.item()
