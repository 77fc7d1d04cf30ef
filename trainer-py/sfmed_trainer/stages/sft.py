"""sft: supervised fine-tuning on dialogues. Each record's messages go through the chat template; the loss
is next-token cross-entropy on the assistant turns only."""

from __future__ import annotations

import torch

from .. import data as D
from ..loop import Task
from ..model_io import load_causal


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean next-token cross-entropy over labelled positions (position t predicts t+1), fp32; and their count."""
    logits = logits[:, :-1].float()
    labels = labels[:, 1:]
    n = int((labels != D.IGNORE).sum())
    flat = logits.reshape(-1, logits.size(-1))
    loss = torch.nn.functional.cross_entropy(flat, labels.reshape(-1), ignore_index=D.IGNORE, reduction="sum")
    return loss / max(n, 1), n


class LmTask(Task):
    """sft and pt: next-token loss on labelled positions."""

    def batch(self, examples):
        p = D.pad_batch([e["input_ids"] for e in examples], self.r.pad_id, [e["labels"] for e in examples])
        return {"input_ids": p.input_ids, "attention_mask": p.attention_mask, "labels": p.labels}

    def loss(self, model, b):
        out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False)
        loss, n = lm_loss(out.logits, b["labels"])
        return loss, {}, int(b["attention_mask"].sum())


def load_examples(runner) -> tuple[list, list]:
    """(train, eval) dialogues encoded with the chat template; examples with no assistant token left after the
    cut to cutoff_len are dropped from training."""
    job, cfg = runner.job, runner.job.data
    train, ev = runner.split(D.load_dialogues(cfg.train, cfg.max_samples), job.train.seed)
    if cfg.eval:
        ev = D.load_dialogues(cfg.eval)
    enc = lambda recs: [D.encode_dialogue(runner.tok, r["messages"], job.cutoff_len, job.system) for r in recs]
    train, ev = enc(train), enc(ev)
    return [e for e in train if any(label != D.IGNORE for label in e["labels"])], ev


def train_causal(runner, train: list, ev: list) -> dict:
    """The language-model loop shared with pt: the job's model (or the checkpoint resumed), LmTask."""
    job = runner.job
    model = runner.load(load_causal, job.resume_from or job.model, job.train.dropout)
    return runner.fit(model, LmTask(runner), train, ev, job.output_dir, job.train.seed)


def run(runner) -> dict:
    train, ev = load_examples(runner)
    runner.check_train(train)
    return train_causal(runner, train, ev)
