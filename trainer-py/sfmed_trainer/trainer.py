"""Training stages (pt, sft, rm, dpo) on one shared loop: deterministic data order, grad accumulation,
cosine/linear schedule with warmup, clipping, eval + keep-best, checkpoints, exact resume, SIGINT/SIGTERM."""
from __future__ import annotations

import math
import os
import re
import shutil
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist

from . import data as D
from .config import Job, JobError, check_alpha
from .events import Events, log
from .losses import bt_loss, dpo_loss
from . import sharding as S
from .optim import OnlineMergeAdamW, compute_tau


class Stop:
    """Set by SIGINT/SIGTERM (both alike: Slurm and other schedulers send SIGTERM); the loop checkpoints after
    the current optimizer step and the CLI exits with 128 + the signal's number."""

    requested = False
    signum: int | None = None

    @classmethod
    def install(cls) -> None:
        cls.requested, cls.signum = False, None

        def handler(signum, frame):
            cls.requested = True
            cls.signum = cls.signum or signum
            log(f"received signal {signum}: checkpointing after this step")

        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, handler)


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


requested_sharding = S.requested_sharding


def setup_dist(job: Job) -> Dist:
    want_cuda = job.device == "cuda" or (job.device == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and job.train.sharding == "deepspeed" and job.mode == "train":
        # DeepSpeed opens the process group itself (through accelerate); one opened here hides the world size
        # from deepspeed.comm.
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local) if want_cuda else torch.device("cpu")
        if want_cuda:
            torch.cuda.set_device(device)
        return Dist(int(os.environ.get("RANK", "0")), world, device)
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if want_cuda else "gloo")
        rank = dist.get_rank()
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local) if want_cuda else torch.device("cpu")
        if want_cuda:
            torch.cuda.set_device(device)
        return Dist(rank, world, device)
    return Dist(0, 1, torch.device("cuda") if want_cuda else torch.device("cpu"))


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def _set_dropout(config, p: float) -> None:
    for k, v in list(vars(config).items()):
        if "dropout" in k and isinstance(v, float):
            setattr(config, k, p)


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _build(auto, path: str, cfg, dtype, device, empty: bool):
    """`auto.from_pretrained`, or with `empty` the same architecture on the meta device (no memory; its
    weights arrive by broadcast, see sharding.shard_from_rank0), in from_pretrained's eval mode."""
    if empty:
        with torch.device("meta"):
            return auto.from_config(cfg, dtype=dtype).eval()
    m = auto.from_pretrained(path, config=cfg, dtype=dtype)
    return m.to(device) if device is not None else m


def load_causal(path: str, dropout: float | None = None, device=None, dtype=torch.float32, empty: bool = False):
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(path)
    if dropout is not None:
        _set_dropout(cfg, dropout)
    return _build(AutoModelForCausalLM, path, cfg, dtype, device, empty)


def load_reward(path: str, dropout: float | None = None, device=None, pad_id: int | None = None, empty: bool = False):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    cfg = AutoConfig.from_pretrained(path)
    cfg.num_labels = 1
    if pad_id is not None and getattr(cfg, "pad_token_id", None) is None:
        cfg.pad_token_id = pad_id
    if dropout is not None:
        _set_dropout(cfg, dropout)
    return _build(AutoModelForSequenceClassification, path, cfg, torch.float32, device, empty)


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probs of the label tokens (shifted: position t predicts t+1) and their counts, in fp32."""
    logits = logits[:, :-1].float()
    labels = labels[:, 1:]
    mask = labels != D.IGNORE
    safe = labels.masked_fill(~mask, 0)
    lp = torch.gather(logits.log_softmax(-1), 2, safe.unsqueeze(-1)).squeeze(-1)
    return (lp * mask).sum(-1), mask.sum(-1)


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    logits = logits[:, :-1].float()
    labels = labels[:, 1:]
    n = int((labels != D.IGNORE).sum())
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=D.IGNORE, reduction="sum")
    return loss / max(n, 1), n


def lr_lambda(kind: str, warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        progress = min(max(progress, 0.0), 1.0)
        if kind == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


@dataclass
class StepPlan:
    """Step counts and precision of a training run, from the job and the data size (shared by both DPO engines,
    so their schedules and events agree)."""

    per_step: int  # examples per optimizer step, all ranks
    steps_per_epoch: int
    total: int
    warmup: int
    eval_every: int
    save_every: int
    bf16: bool

    @classmethod
    def of(cls, t, n: int, d: "Dist") -> "StepPlan":
        per_step = t.batch_size * t.grad_accum * d.world
        spe = max(1, n // per_step)
        total = t.max_steps or max(1, math.ceil(t.epochs * spe))
        return cls(per_step, spe, total, t.warmup_steps or math.ceil(t.warmup_ratio * total), t.eval_steps or spe,
                   t.save_steps or spe, t.bf16 is True or (t.bf16 == "auto" and d.device.type == "cuda"))


def _atomic_save_dir(build: Callable[[str], None], dest: str, prepared: str | None = None) -> None:
    tmp = prepared or dest + ".tmp"
    if prepared is None:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    build(tmp)
    old = dest + ".old"
    if os.path.exists(dest):
        shutil.rmtree(old, ignore_errors=True)
        os.rename(dest, old)
    os.rename(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")


def _is_ckpt_name(path: str) -> bool:
    return bool(_CKPT_RE.match(os.path.basename(os.path.normpath(path))))


def checkpoint_complete(path: str) -> bool:
    """A checkpoint folder that can be resumed: config, weights and the trainer state (ours or TRL's), none of
    them empty. Folders are renamed into place only once written, so a partial one comes from outside (a
    deleted file, a copy cut short)."""
    def ok(name: str) -> bool:
        f = os.path.join(path, name)
        return os.path.isfile(f) and os.path.getsize(f) > 0

    return (os.path.isdir(path) and ok("config.json")
            and (ok("model.safetensors") or ok("model.safetensors.index.json"))
            and (ok("trainer_state.pt") or ok("trainer_state.json")))


def newest_complete_checkpoint(path: str) -> str | None:
    """`path` when it is a complete checkpoint; else the complete checkpoint-N with the largest N in the
    folder it names (an output folder) or in its parent (a checkpoint-N folder); None when there is none."""
    if checkpoint_complete(path):
        return path
    norm = os.path.normpath(path)
    folder = norm if os.path.isdir(norm) and not _is_ckpt_name(norm) else os.path.dirname(norm)
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    steps = sorted((int(m.group(1)) for m in map(_CKPT_RE.match, names) if m), reverse=True)
    for n in steps:
        cand = os.path.join(folder, f"checkpoint-{n}")
        if checkpoint_complete(cand):
            return cand
    return None


def sweep_stale(out_dir: str) -> list[str]:
    """Clean up after a save that was killed (`_atomic_save_dir`: build X.tmp, rename X → X.old, X.tmp → X,
    delete X.old) in `out_dir` and its model-i folders. X.old without X: the kill fell between the two
    renames, so X.tmp is complete and becomes X (or X.old is put back when X.tmp is gone). Every other X.tmp
    and X.old is deleted. Returns what was removed or restored."""
    done: list[str] = []
    if not os.path.isdir(out_dir):
        return done
    folders = [out_dir] + [os.path.join(out_dir, x) for x in sorted(os.listdir(out_dir))
                           if re.match(r"^model-\d+$", x) and os.path.isdir(os.path.join(out_dir, x))]
    for folder in folders:
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".old"):
                continue
            dest = os.path.join(folder, name[:-4])
            old, tmp = dest + ".old", dest + ".tmp"
            if not os.path.exists(dest):
                os.rename(tmp if os.path.isdir(tmp) else old, dest)
                done.append(dest)
        for name in sorted(os.listdir(folder)):
            p = os.path.join(folder, name)
            if (name.endswith(".tmp") or name.endswith(".old")) and os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
                done.append(p)
    if done:
        log(f"removed or restored what a killed save left: {done}")
    return done


class Task:
    """Stage-specific parts of the loop: batch building and loss."""

    name = "task"

    def __init__(self, runner: "Runner"):
        self.r = runner

    def batch(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def loss(self, model, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float], int]:
        raise NotImplementedError


class LmTask(Task):
    """sft and pt: next-token loss on labelled positions."""

    def batch(self, examples):
        p = D.pad_batch([e["input_ids"] for e in examples], self.r.pad_id, [e["labels"] for e in examples])
        return {"input_ids": p.input_ids, "attention_mask": p.attention_mask, "labels": p.labels}

    def loss(self, model, b):
        out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False)
        loss, n = lm_loss(out.logits, b["labels"])
        return loss, {}, int(b["attention_mask"].sum())


def _pair_tensors(examples, pad_id):
    seqs, labels = [], []
    for which in (0, 1):  # chosen block then rejected block
        for e in examples:
            r = e["response_ids"][which]
            seqs.append(e["prompt_ids"] + r)
            labels.append([D.IGNORE] * len(e["prompt_ids"]) + r)
    return D.pad_batch(seqs, pad_id, labels)


class DpoTask(Task):
    def __init__(self, runner, ref_model=None):
        super().__init__(runner)
        self.ref = ref_model
        c = runner.job.dpo
        self.beta, self.loss_type, self.ls, self.sft_weight = c.beta, c.loss_type, c.label_smoothing, c.sft_weight

    def batch(self, examples):
        p = _pair_tensors(examples, self.r.pad_id)
        b = {"input_ids": p.input_ids, "attention_mask": p.attention_mask, "labels": p.labels}
        if all("ref_logps" in e for e in examples):
            b["ref_logps"] = torch.tensor([e["ref_logps"][0] for e in examples] + [e["ref_logps"][1] for e in examples], dtype=torch.float32)
        return b

    def logps(self, model, b):
        out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False)
        s, n = sequence_logps(out.logits, b["labels"])
        return s, n

    def loss(self, model, b):
        pol, n = self.logps(model, b)
        if "ref_logps" in b:
            ref = b["ref_logps"]
        else:
            with torch.no_grad():
                ref, _ = self.logps(self.ref, b)
        half = pol.shape[0] // 2
        nf = n.clamp(min=1).float()
        if self.loss_type == "ipo":  # IPO works on length-averaged log-probs (as TRL)
            pol_u, ref_u = pol / nf, ref / nf
        else:
            pol_u, ref_u = pol, ref
        o = dpo_loss(pol_u[:half], pol_u[half:], ref_u[:half], ref_u[half:], beta=self.beta, loss_type=self.loss_type, label_smoothing=self.ls)
        loss = o.loss
        m = o.metrics()
        m["logps_chosen"] = pol[:half].detach().mean().item()
        m["logps_rejected"] = pol[half:].detach().mean().item()
        if self.sft_weight > 0:
            nll = (-pol[:half] / nf[:half]).mean()
            loss = loss + self.sft_weight * nll
            m["sft_loss"] = nll.item()
        return loss, m, int(b["attention_mask"].sum())


class RmTask(Task):
    def batch(self, examples):
        p = _pair_tensors(examples, self.r.pad_id)
        margin = torch.tensor([float(e.get("margin") or 0.0) for e in examples])
        return {"input_ids": p.input_ids, "attention_mask": p.attention_mask, "margin": margin}

    def loss(self, model, b):
        out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False)
        r = out.logits[:, 0].float()
        half = r.shape[0] // 2
        loss = bt_loss(r[:half], r[half:], b["margin"].to(r.device))
        acc = (r[:half] > r[half:]).float().mean().item()
        return loss, {"reward_accuracy": acc, "reward_margin": (r[:half] - r[half:]).mean().item()}, int(b["attention_mask"].sum())


def _to(b: dict[str, Any], device) -> dict[str, Any]:
    return {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in b.items()}


class Runner:
    def __init__(self, job: Job, events: Events | None = None):
        self.job = job
        self.d = setup_dist(job)
        if job.mode != "train":
            self.strategy, self.asked_sharding = "single", None
        elif job.train.sharding == "deepspeed":  # transformers' Trainer drives DeepSpeed (trl_dpo.py)
            self.strategy, self.asked_sharding = ("deepspeed" if self.d.world > 1 else "single"), S.requested_sharding()
        else:
            self.strategy, self.asked_sharding = S.choose_strategy(job.train.sharding, self.d.world, self.d.main)
        self.events = events or Events(enabled=self.d.main)
        if not self.d.main:
            self.events.enabled = False
        self.tok = None
        self.pad_id = 0
        self.start_fields: dict[str, Any] = {}  # stage-specific fields of the `start` event (pt: token_mix)

    # ----------------------------------------------------------------------------------------- sharding

    @property
    def fsdp(self) -> bool:
        return self.strategy == "fsdp"

    def _load(self, loader, path: str, dropout: float | None, **kw):
        """`loader` (load_causal / load_reward) for this run's strategy. FSDP: only rank 0 reads the checkpoint,
        into host memory; the other ranks build the model on the meta device, and once every rank has sharded
        it rank 0 broadcasts the weights, each rank keeping its slices (sharding.shard_from_rank0). Neither the
        accelerator nor the host of any other rank ever holds a full model."""
        if not self.fsdp:
            return loader(path, dropout, self.d.device, **kw)
        model = loader(path, dropout, None, empty=not self.d.main, **kw)
        return S.shard_from_rank0(model, self.d.device, **S.fsdp_policies(self.job.train, self.d.device, self.d.main))

    def _shard(self, model):
        if self.fsdp:
            S.shard_model(model, self.d.device, **S.fsdp_policies(self.job.train, self.d.device, self.d.main))
        return model

    # ----------------------------------------------------------------------------------------- data

    def _split(self, items: list, seed: int) -> tuple[list, list]:
        cfg = self.job.data
        if cfg.eval or not cfg.eval_ratio:
            return items, []
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(items), generator=g).tolist()
        n_eval = max(1, int(round(len(items) * cfg.eval_ratio)))
        return [items[i] for i in perm[n_eval:]], [items[i] for i in perm[:n_eval]]

    def load_examples(self) -> tuple[list, list]:
        job, tok, cfg = self.job, self.tok, self.job.data
        seed = job.train.seed
        if job.stage == "sft":
            enc = lambda recs: [D.encode_dialogue(tok, r["messages"], job.cutoff_len, job.system) for r in recs]
            train, ev = self._split(D.load_dialogues(cfg.train, cfg.max_samples), seed)
            if cfg.eval:
                ev = D.load_dialogues(cfg.eval)
            train, ev = enc(train), enc(ev)
            train = [e for e in train if any(l != D.IGNORE for l in e["labels"])]
            return train, ev
        if job.stage in ("dpo", "rm"):
            def one(r):
                e = {**D.encode_pair(tok, r["prompt"], [r["chosen"], r["rejected"]], job.cutoff_len, job.system), "margin": r.get("margin")}
                ref = D.record_ref_logps(r)
                if ref is not None and job.stage == "dpo":
                    e["ref_logps"] = ref
                return e

            enc = lambda recs: [one(r) for r in recs]
            train, ev = self._split(D.load_pairs(cfg.train, cfg.max_samples), seed)
            if cfg.eval:
                ev = D.load_pairs(cfg.eval)
            return enc(train), enc(ev)
        if job.stage == "pt":
            docs, ev_docs = self._split([d["text"] for d in D.load_docs(cfg.train, cfg.max_samples)], seed)
            if cfg.eval:
                ev_docs = [d["text"] for d in D.load_docs(cfg.eval)]
            general = [d["text"] for d in D.load_docs(job.pt.general)] if job.pt.general else []
            mix: dict[str, Any] = {}
            train = D.pack_docs(tok, docs, general, job.pt.general_ratio, job.cutoff_len, seed,
                                unit=job.pt.general_ratio_unit, stats=mix)
            self.start_fields["token_mix"] = mix
            log(f"pt mix: {mix['medical_tokens']} medical + {mix['general_tokens']} general tokens "
                f"({mix['general_ratio']:.4f} general; target {mix['target_ratio']} in {mix['unit']})")
            ev = D.pack_docs(tok, ev_docs, [], 0.0, job.cutoff_len, seed) if ev_docs else []
            if not train:
                raise ValueError(f"data.train: not enough text for one block of cutoff_len={job.cutoff_len} tokens")
            return train, ev
        raise ValueError(job.stage)

    # ----------------------------------------------------------------------------------------- entry

    def run(self) -> dict[str, Any]:
        job = self.job
        for w in job.warnings:
            self.events.emit("warning", **w)
        if job.mode == "train":
            if self.d.main:
                sweep_stale(job.output_dir)
            if dist.is_available() and dist.is_initialized():
                dist.barrier()
            if job.resume_from:
                self._resolve_resume()
        torch.manual_seed(job.train.seed)
        self.tok = load_tokenizer(job.model)
        self.pad_id = self.tok.pad_token_id
        if job.mode == "score":
            return self.score()
        train, ev = self.load_examples()
        if not train:
            raise ValueError("data.train: no usable training examples")
        self._check_alpha(len(train))
        if job.stage == "rm":
            return self.run_rm(train, ev)
        if job.stage == "dpo" and job.dpo.engine == "trl":
            from .trl_dpo import run_trl_dpo

            return run_trl_dpo(self, train, ev)
        model_path = job.resume_from or job.model
        model = self._load(load_causal, model_path, job.train.dropout)
        if job.stage == "dpo":
            task = self.make_dpo_task(model, train, ev)
        else:
            task = LmTask(self)
        return self.fit(model, task, train, ev, job.output_dir, job.train.seed)

    def _check_alpha(self, n_train: int) -> None:
        """The α guard (config.check_alpha) with the real step count, when reading the job could not count
        the steps (pt's packed blocks, a data file written after validation)."""
        job = self.job
        if job.alpha_checked_steps is not None or job.stage == "rm":
            return
        w = check_alpha(job.optimizer, StepPlan.of(job.train, n_train, self.d).total)
        if w:
            log(f"warning: {w['message']}")
            self.events.emit("warning", **w)

    def _resolve_resume(self) -> None:
        """`resume_from` names a checkpoint that is gone or incomplete (deleted, cut short by a full disk or a
        killed copy): fall back to the newest complete checkpoint-N beside it, with a `warning` event. It may
        also name the output folder itself, whose newest complete checkpoint is taken."""
        job = self.job
        asked = job.resume_from
        found = newest_complete_checkpoint(asked)
        if found is None:
            raise JobError("resume_from", f"{asked} is not a complete checkpoint and no complete checkpoint-N "
                           f"is beside it (a checkpoint folder holds config.json, the weights and trainer_state)")
        if os.path.normpath(found) != os.path.normpath(asked):
            why = "is not a checkpoint folder" if os.path.isdir(asked) and not _is_ckpt_name(asked) else \
                "is missing or incomplete"
            msg = f"resume_from: {asked} {why}; resuming from {found}, the newest complete checkpoint"
            log(f"warning: {msg}")
            self.events.emit("warning", code="resume_fallback", key="resume_from", message=msg,
                             requested=asked, resume_from=found)
            job.resume_from = found

    def make_dpo_task(self, model, train, ev) -> DpoTask:
        job = self.job
        ref_path = job.dpo.ref_model or job.model
        # The frozen reference runs in bf16 on CUDA when training uses bf16 autocast (half the memory).
        ref_dtype = torch.bfloat16 if (self.d.device.type == "cuda" and job.train.bf16 is not False) else torch.float32
        if all("ref_logps" in e for e in train) and all("ref_logps" in e for e in ev):
            log("dpo: every record carries reference log-probs; no reference model is loaded")
            return DpoTask(self, None)
        if job.dpo.precompute_ref:
            ref = self._load(load_causal, ref_path, 0.0, dtype=ref_dtype) if (job.resume_from or ref_path != job.model) else model
            task = DpoTask(self, None)
            was_training = ref.training
            ref.eval()
            with torch.no_grad():
                for exs in (train, ev):
                    for i in range(0, len(exs), 8):
                        chunk = exs[i:i + 8]
                        b = _to(task.batch(chunk), self.d.device)
                        s, _ = task.logps(ref, b)
                        h = len(chunk)
                        for j, e in enumerate(chunk):
                            e["ref_logps"] = (s[j].item(), s[h + j].item())
            ref.train(was_training)
            if self.fsdp:
                S.reshard(ref)
            if ref is not model:
                del ref
            return task
        ref = self._load(load_causal, ref_path, 0.0, dtype=ref_dtype)
        ref.eval()
        ref.requires_grad_(False)
        return DpoTask(self, ref)

    # ----------------------------------------------------------------------------------------- rm

    def run_rm(self, train, ev) -> dict[str, Any]:
        job = self.job
        n = job.rm.num_models
        seeds = job.rm.seeds or [job.train.seed + i for i in range(n)]
        results = []
        for i, seed in enumerate(seeds):
            out = os.path.join(job.output_dir, f"model-{i}") if n > 1 else job.output_dir
            resume_here = job.resume_from and os.path.abspath(job.resume_from).startswith(os.path.abspath(out) + os.sep)
            if n > 1 and os.path.exists(os.path.join(out, "final", "config.json")) and not resume_here:
                log(f"rm model {i}: already trained at {out}/final, skipping")
                results.append({"model": os.path.join(out, "final")})
                continue
            torch.manual_seed(seed)
            src = job.resume_from if resume_here or (n == 1 and job.resume_from) else job.model
            model = self._load(load_reward, src, job.train.dropout, pad_id=self.pad_id)
            res = self.fit(model, RmTask(self), train, ev, out, seed, model_index=i, resume=src != job.model)
            results.append(res)
            if res.get("interrupted"):
                return res
        return {"models": [r.get("model") for r in results]}

    @torch.no_grad()
    def score(self) -> dict[str, Any]:
        import json

        job = self.job
        paths = job.rm.models or [job.model]
        pairs = D.load_pairs(job.rm.input)
        enc = [D.encode_pair(self.tok, p["prompt"], [p["chosen"], p["rejected"]], job.cutoff_len, job.system) for p in pairs]
        self.events.emit("start", stage="rm", mode="score", models=paths, n_pairs=len(pairs))
        scores = [[[], []] for _ in pairs]
        task = RmTask(self)
        for mi, path in enumerate(paths):
            model = load_reward(path, 0.0, self.d.device, self.pad_id).eval()
            bs = job.rm.batch_size
            for i in range(0, len(enc), bs):
                chunk = enc[i:i + bs]
                b = _to(task.batch([{**e, "margin": 0} for e in chunk]), self.d.device)
                r = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[:, 0].float().tolist()
                h = len(chunk)
                for j in range(h):
                    scores[i + j][0].append(r[j])
                    scores[i + j][1].append(r[h + j])
            self.events.emit("eval", model_index=mi, model=path, n_pairs=len(pairs))
            del model
        names = [os.path.basename(os.path.normpath(p)) if os.path.basename(os.path.normpath(p)) not in ("final", "best") else os.path.basename(os.path.dirname(os.path.normpath(p))) + "/" + os.path.basename(os.path.normpath(p)) for p in paths]
        out = job.rm.output
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        tmp = out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for p, (c, r) in zip(pairs, scores):
                f.write(json.dumps({**p, "scores": {"chosen": c, "rejected": r, "models": names}}, ensure_ascii=False) + "\n")
        os.replace(tmp, out)
        res = {"stage": "rm", "mode": "score", "output": out, "n_pairs": len(pairs), "interrupted": False}
        self.events.emit("done", **res)
        return res

    # ----------------------------------------------------------------------------------------- optimizer

    def build_optimizer(self, model, sharded: bool = False):
        o, t = self.job.optimizer, self.job.train
        params = [p for p in model.parameters() if p.requires_grad]
        if o.name == "adamw":
            return torch.optim.AdamW(params, lr=t.lr, betas=o.betas, eps=o.eps, weight_decay=t.weight_decay)
        seed = o.seed if o.seed is not None else t.seed
        # Sharded: each rank masks a different slice, so each draws its own masks (the same seed everywhere
        # would repeat one pattern on every shard). τ's fixed mask is drawn on full tensors with `seed`.
        mask_seed = seed + 7919 * self.d.rank if sharded else seed
        opt = OnlineMergeAdamW(params, lr=t.lr, betas=o.betas, eps=o.eps, weight_decay=t.weight_decay,
                               method=o.name, p=o.p, alpha=o.alpha, rescale=o.rescale, seed=mask_seed,
                               clip_val=o.clip_tau)
        if o.base_model:
            named = [(n, p) for n, p in _unwrap(model).named_parameters() if p.requires_grad]
            tau, missing = compute_tau(named, o.sft_model or self.job.model, o.base_model, method=o.name, p=o.p,
                                       clip_tau=o.clip_tau, rescale=o.rescale, seed=seed)
            if missing:
                log(f"tau: {len(missing)} tensors missing from a checkpoint, treated as zero: {missing[:5]}")
            opt.set_tau(tau)
        return opt

    # ----------------------------------------------------------------------------------------- loop

    def fit(self, model, task: Task, train, ev, out_dir: str, seed: int, model_index: int | None = None, resume: bool | None = None) -> dict[str, Any]:
        job, t, d = self.job, self.job.train, self.d
        os.makedirs(out_dir, exist_ok=True)
        tag = {} if model_index is None else {"model_index": model_index}
        if t.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
        base = model
        strategy, asked = self.strategy, self.asked_sharding
        fsdp = self.fsdp
        if fsdp:
            self._shard(model)  # no-op when run() already sharded it (the reference is sharded too)
        elif d.world > 1:
            model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[d.device.index] if d.device.type == "cuda" else None)
        opt = self.build_optimizer(model, sharded=fsdp)
        n = len(train)
        plan = StepPlan.of(t, n, d)
        per_step, spe, total, warmup = plan.per_step, plan.steps_per_epoch, plan.total, plan.warmup
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(t.scheduler, warmup, total))
        eval_every, save_every, use_bf16 = plan.eval_every, plan.save_every, plan.bf16
        start, best = 0, {"loss": None, "step": None}
        resume_dir = job.resume_from if (resume is None or resume) else None
        if resume_dir and os.path.exists(os.path.join(resume_dir, "trainer_state.pt")):
            st = torch.load(os.path.join(resume_dir, "trainer_state.pt"), weights_only=True)
            if st.get("optimizer_shards") and S.has_optimizer_checkpoint(resume_dir):
                S.load_optimizer(_unwrap(model), opt, resume_dir)  # any number of ranks, sharded or not
            elif st.get("optimizer_shards"):
                if not fsdp or st["optimizer_shards"] != d.world:
                    raise ValueError(f"resume_from: {resume_dir} holds optimizer state sharded over "
                                     f"{st['optimizer_shards']} FSDP ranks; resume with sharding fsdp on as many processes")
                opt.load_state_dict(torch.load(os.path.join(resume_dir, f"optimizer.rank{d.rank}.pt"), weights_only=True))
                S.restore_dtensor_state(opt)
            elif fsdp:
                S.load_optimizer_from_full(opt, st["optimizer"])  # each rank keeps its slice
            else:
                opt.load_state_dict(st["optimizer"])
            sched.load_state_dict(st["scheduler"])
            torch.set_rng_state(st["rng_cpu"])
            if st.get("rng_cuda") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(st["rng_cuda"])
            start, best = st["step"], st["best"]
            log(f"resumed from {resume_dir} at step {start}")
        n_params = sum(p.numel() for p in base.parameters())
        self.events.emit("start", stage=job.stage, mode=job.mode, world_size=d.world, device=str(d.device), bf16=use_bf16,
                         strategy=strategy, requested_sharding=asked,
                         n_train=n, n_eval=len(ev), total_steps=total, steps_per_epoch=spe, start_step=start,
                         params=n_params, optimizer=job.optimizer.name, output_dir=out_dir, **self.start_fields, **tag)
        perms: dict[int, list[int]] = {}

        def perm(epoch: int) -> list[int]:
            if epoch not in perms:
                perms.clear()
                perms[epoch] = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch)).tolist()
            return perms[epoch]

        def trainer_state(step: int, optimizer) -> dict:
            return {"step": step, "optimizer": optimizer, "scheduler": sched.state_dict(),
                    "rng_cpu": torch.get_rng_state(),
                    "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                    "best": best, "stage": job.stage, "optimizer_shards": d.world if fsdp else None}

        def prune_ckpts() -> None:
            ck = sorted((int(x.split("-")[1]) for x in os.listdir(out_dir) if x.startswith("checkpoint-") and x.split("-")[1].isdigit()))
            for old in ck[:-t.save_total_limit]:
                shutil.rmtree(os.path.join(out_dir, f"checkpoint-{old}"), ignore_errors=True)

        def save_ckpt(step: int) -> str:
            path = os.path.join(out_dir, f"checkpoint-{step}")
            if fsdp:
                # Gathered HF weights + trainer state from rank 0, one optimizer-state shard per rank, all
                # written into the temp folder before rank 0 renames it (the folder must be on storage every
                # rank sees).
                sd = S.full_state_dict(model)
                tmp = path + ".tmp"
                if d.main:
                    shutil.rmtree(tmp, ignore_errors=True)
                    os.makedirs(tmp)
                    _unwrap(model).save_pretrained(tmp, state_dict=sd)
                    self.tok.save_pretrained(tmp)
                    torch.save(trainer_state(step, None), os.path.join(tmp, "trainer_state.pt"))
                del sd
                S.barrier()
                S.save_optimizer(_unwrap(model), opt, tmp)
                S.barrier()
                if d.main:
                    _atomic_save_dir(lambda dest: None, path, prepared=tmp)
                    prune_ckpts()
                    self.events.emit("checkpoint", step=step, path=path, **tag)
                S.barrier()
                return path
            if d.main:
                def build(tmp):
                    _unwrap(model).save_pretrained(tmp)
                    self.tok.save_pretrained(tmp)
                    torch.save(trainer_state(step, opt.state_dict()), os.path.join(tmp, "trainer_state.pt"))
                _atomic_save_dir(build, path)
                prune_ckpts()
                self.events.emit("checkpoint", step=step, path=path, **tag)
            if d.world > 1:
                dist.barrier()
            return path

        def save_model(name: str) -> str:
            path = os.path.join(out_dir, name)
            if fsdp:
                sd = S.full_state_dict(model)
                if d.main:
                    _atomic_save_dir(lambda tmp: (_unwrap(model).save_pretrained(tmp, state_dict=sd), self.tok.save_pretrained(tmp)), path)
                del sd
                S.barrier()
                return path
            if d.main:
                _atomic_save_dir(lambda tmp: (_unwrap(model).save_pretrained(tmp), self.tok.save_pretrained(tmp)), path)
            if d.world > 1:
                dist.barrier()
            return path

        def autocast():
            return torch.autocast(device_type=d.device.type, dtype=torch.bfloat16, enabled=use_bf16)

        def evaluate(step: int) -> float | None:
            if not ev:
                return None
            model.eval()
            tot, cnt, agg = 0.0, 0, {}
            with torch.no_grad(), autocast():
                shard = ev[d.rank::d.world]
                n_local = len(shard)
                if fsdp:  # every rank must run as many forwards (each all-gathers): pad with weight-0 batches
                    longest = math.ceil(len(ev) / d.world)
                    shard = shard + ev[:longest - len(shard)]
                for i in range(0, len(shard), t.batch_size):
                    chunk = shard[i:i + t.batch_size]
                    w = max(0, min(len(chunk), n_local - i))
                    loss, m, _ = task.loss(model, _to(task.batch(chunk), d.device))
                    tot += loss.item() * w
                    cnt += w
                    for k, v in m.items():
                        agg[k] = agg.get(k, 0.0) + v * w
            if d.world > 1:
                vec = torch.tensor([tot, cnt] + [agg[k] for k in sorted(agg)], dtype=torch.float64)
                dist.all_reduce(vec)
                tot, cnt = vec[0].item(), vec[1].item()
                agg = {k: vec[2 + i].item() for i, k in enumerate(sorted(agg))}
            if fsdp:
                S.reshard(model)
            model.train()
            el = tot / max(cnt, 1)
            self.events.emit("eval", step=step, epoch=step / spe, eval_loss=el, n=cnt, **{f"eval_{k}": v / max(cnt, 1) for k, v in agg.items()}, **tag)
            return el

        model.train()
        step = start
        interrupted = False
        while step < total:
            if self._stop_requested():
                interrupted = True
                break
            t0 = time.perf_counter()
            epoch, pos = divmod(step, spe)
            order = perm(epoch)
            opt.zero_grad(set_to_none=True)
            loss_sum, toks, agg = 0.0, 0, {}
            for j in range(t.grad_accum):
                start_i = pos * per_step + (j * d.world + d.rank) * t.batch_size
                exs = [train[order[(start_i + i) % n]] for i in range(t.batch_size)]
                b = _to(task.batch(exs), d.device)
                sync = d.world == 1 or j == t.grad_accum - 1
                if fsdp:
                    S.set_grad_sync(model, sync)
                ctx = model.no_sync() if (d.world > 1 and not sync and not fsdp) else _null()
                with ctx:
                    with autocast():
                        loss, m, ntok = task.loss(model, b)
                    (loss / t.grad_accum).backward()
                loss_sum += loss.item() / t.grad_accum
                toks += ntok
                for k, v in m.items():
                    agg[k] = agg.get(k, 0.0) + v / t.grad_accum
            clip = t.max_grad_norm if t.max_grad_norm > 0 else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            grad_norm = (grad_norm.full_tensor() if S.is_dtensor(grad_norm) else grad_norm).item()
            lr = sched.get_last_lr()[0]
            opt.step()
            sched.step()
            step += 1
            if d.world > 1:
                vec = torch.tensor([loss_sum, float(toks)] + [agg[k] for k in sorted(agg)], dtype=torch.float64)
                dist.all_reduce(vec)
                loss_sum, toks = vec[0].item() / d.world, int(vec[1].item())
                agg = {k: vec[2 + i].item() / d.world for i, k in enumerate(sorted(agg))}
            dt = time.perf_counter() - t0
            if step % t.logging_steps == 0 or step == total:
                self.events.emit("step", step=step, total_steps=total, epoch=step / spe, loss=loss_sum, lr=lr,
                                 grad_norm=grad_norm, tokens_per_s=toks / dt if dt > 0 else None, **agg, **tag)
            if step % eval_every == 0 or step == total:
                el = evaluate(step)
                if el is not None and t.keep_best and (best["loss"] is None or el < best["loss"]):
                    best = {"loss": el, "step": step}
                    save_model("best")
            if step % save_every == 0 and step != total:
                save_ckpt(step)
        if interrupted:
            ck = save_ckpt(step)
            res = {"stage": job.stage, "interrupted": True, "step": step, "checkpoint": ck, **tag}
            self.events.emit("done", **res)
            return res
        extra = {}
        if d.world > 1 and not fsdp:
            extra["replica_max_diff"] = self._replica_diff(base)
        final = save_model("final")
        best_path = os.path.join(out_dir, "best") if best["step"] is not None else None
        chosen = best_path if (t.keep_best and best_path) else final
        res = {"stage": job.stage, "interrupted": False, "step": step, "model": chosen, "final_model": final,
               "best_model": best_path, "best_eval_loss": best["loss"], "best_step": best["step"], **extra, **tag}
        self.events.emit("done", **res)
        return res

    @torch.no_grad()
    def _replica_diff(self, model) -> float:
        """Largest |θ_rank − θ_max| over all ranks and parameters: 0.0 when the replicas are identical."""
        worst = torch.zeros((), dtype=torch.float64)
        for p in model.parameters():
            m = p.detach().clone()
            dist.all_reduce(m, op=dist.ReduceOp.MAX)
            worst = torch.maximum(worst, (m - p).abs().max().double().cpu())
        dist.all_reduce(worst, op=dist.ReduceOp.MAX)
        return worst.item()

    def _stop_requested(self) -> bool:
        flag = Stop.requested
        if self.d.world > 1:
            v = torch.tensor([1.0 if flag else 0.0])
            dist.all_reduce(v, op=dist.ReduceOp.MAX)
            flag = v.item() > 0
        return flag


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False
