"""dpo: direct preference optimisation (sigmoid/cDPO, IPO, …, plus an optional SFT term on the chosen
response) against a frozen reference, with AdamW or the online merging optimizers. `dpo.engine` picks the
loop: "sfmed" (loop.TrainLoop, FSDP capable) or "trl" (TRL's DPOTrainer, DeepSpeed ZeRO-3 capable; trl_dpo.py).
Both read the same examples, reference log-probs, optimizer and schedule."""

from __future__ import annotations

import torch

from .. import data as D
from .. import sharding as S
from ..events import log
from ..loop import Task
from ..losses import dpo_loss
from ..model_io import load_causal
from ..runtime import to_device
from ..trl_dpo import run_trl_dpo
from . import pairs


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probs of the label tokens (shifted: position t predicts t+1) and their counts, in fp32."""
    logits = logits[:, :-1].float()
    labels = labels[:, 1:]
    mask = labels != D.IGNORE
    safe = labels.masked_fill(~mask, 0)
    lp = torch.gather(logits.log_softmax(-1), 2, safe.unsqueeze(-1)).squeeze(-1)
    return (lp * mask).sum(-1), mask.sum(-1)


class DpoTask(Task):
    def __init__(self, runner, ref_model=None):
        super().__init__(runner)
        self.ref = ref_model
        c = runner.job.dpo
        self.beta, self.loss_type, self.ls, self.sft_weight = c.beta, c.loss_type, c.label_smoothing, c.sft_weight

    def batch(self, examples):
        p = D.pair_batch(examples, self.r.pad_id)
        b = {"input_ids": p.input_ids, "attention_mask": p.attention_mask, "labels": p.labels}
        if all("ref_logps" in e for e in examples):
            ref = [e["ref_logps"][0] for e in examples] + [e["ref_logps"][1] for e in examples]
            b["ref_logps"] = torch.tensor(ref, dtype=torch.float32)
        return b

    def logps(self, model, b):
        out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False)
        return sequence_logps(out.logits, b["labels"])

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
        o = dpo_loss(
            pol_u[:half], pol_u[half:], ref_u[:half], ref_u[half:], beta=self.beta, loss_type=self.loss_type,
            label_smoothing=self.ls,
        )  # fmt: skip
        loss = o.loss
        m = o.metrics()
        m["logps_chosen"] = pol[:half].detach().mean().item()
        m["logps_rejected"] = pol[half:].detach().mean().item()
        if self.sft_weight > 0:
            nll = (-pol[:half] / nf[:half]).mean()
            loss = loss + self.sft_weight * nll
            m["sft_loss"] = nll.item()
        return loss, m, int(b["attention_mask"].sum())


def fill_ref_logps(runner, ref, task: DpoTask, examples: list) -> None:
    """Store the reference model's (chosen, rejected) log-probs in each example (`ref_logps`)."""
    with torch.no_grad():
        for i in range(0, len(examples), 8):
            chunk = examples[i : i + 8]
            s, _ = task.logps(ref, to_device(task.batch(chunk), runner.d.device))
            h = len(chunk)
            for j, e in enumerate(chunk):
                e["ref_logps"] = (s[j].item(), s[h + j].item())


def make_dpo_task(runner, model, train: list, ev: list) -> DpoTask:
    """The DPO task with its reference: none when every record carries its log-probs; with precompute_ref the
    log-probs are computed once (by the policy itself when it is the reference) and the model dropped; else a
    frozen reference model (bf16 on CUDA when training uses bf16 autocast: half the memory)."""
    job = runner.job
    ref_path = job.dpo.ref_model or job.model
    cuda_bf16 = runner.d.device.type == "cuda" and job.train.bf16 is not False
    ref_dtype = torch.bfloat16 if cuda_bf16 else torch.float32
    if all("ref_logps" in e for e in train) and all("ref_logps" in e for e in ev):
        log("dpo: every record carries reference log-probs; no reference model is loaded")
        return DpoTask(runner, None)
    if not job.dpo.precompute_ref:
        ref = runner.load(load_causal, ref_path, 0.0, dtype=ref_dtype)
        ref.eval()
        ref.requires_grad_(False)
        return DpoTask(runner, ref)
    own = job.resume_from or ref_path != job.model
    ref = runner.load(load_causal, ref_path, 0.0, dtype=ref_dtype) if own else model
    task = DpoTask(runner, None)
    was_training = ref.training
    ref.eval()
    for exs in (train, ev):
        fill_ref_logps(runner, ref, task, exs)
    ref.train(was_training)
    if runner.fsdp:
        S.reshard(ref)
    return task


def run(runner) -> dict:
    job = runner.job
    train, ev = pairs.load_examples(runner, with_ref=True)
    runner.check_train(train)
    if job.dpo.engine == "trl":
        return run_trl_dpo(runner, train, ev, lambda model: make_dpo_task(runner, model, train, ev))
    model = runner.load(load_causal, job.resume_from or job.model, job.train.dropout)
    task = make_dpo_task(runner, model, train, ev)
    return runner.fit(model, task, train, ev, job.output_dir, job.train.seed)
