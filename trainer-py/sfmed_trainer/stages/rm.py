"""rm: N reward models (a one-logit head, Bradley–Terry loss with an optional margin), each trained on the
same pairs with its own seed into model-i/; and `mode: score`, which scores pairs with trained models."""

from __future__ import annotations

import json
import os
from typing import Any

import torch

from .. import data as D
from ..checkpoint import atomic_write_text
from ..events import log
from ..losses import bt_loss
from ..loop import Task
from ..model_io import load_reward
from ..runtime import to_device
from . import pairs


class RmTask(Task):
    def batch(self, examples):
        p = D.pair_batch(examples, self.r.pad_id)
        margin = torch.tensor([float(e.get("margin") or 0.0) for e in examples])
        return {"input_ids": p.input_ids, "attention_mask": p.attention_mask, "margin": margin}

    def loss(self, model, b):
        out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False)
        r = out.logits[:, 0].float()
        half = r.shape[0] // 2
        loss = bt_loss(r[:half], r[half:], b["margin"].to(r.device))
        acc = (r[:half] > r[half:]).float().mean().item()
        metrics = {"reward_accuracy": acc, "reward_margin": (r[:half] - r[half:]).mean().item()}
        return loss, metrics, int(b["attention_mask"].sum())


def run(runner) -> dict[str, Any]:
    """Train rm.num_models reward models in turn; a model already finished in model-i/final is skipped (a
    resumed run picks up where it stopped)."""
    job = runner.job
    train, ev = pairs.load_examples(runner, with_ref=False)
    runner.check_train(train)
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
        model = runner.load(load_reward, src, job.train.dropout, pad_id=runner.pad_id)
        res = runner.fit(model, RmTask(runner), train, ev, out, seed, model_index=i, resume=src != job.model)
        results.append(res)
        if res.get("interrupted"):
            return res
    return {"models": [r.get("model") for r in results]}


def model_name(path: str) -> str:
    """A scored model's name: its folder, or parent/folder for a `final` or `best` folder."""
    norm = os.path.normpath(path)
    base = os.path.basename(norm)
    return base if base not in ("final", "best") else os.path.basename(os.path.dirname(norm)) + "/" + base


@torch.no_grad()
def score_pairs(runner, path: str, enc: list, scores: list) -> None:
    """Append one model's (chosen, rejected) rewards to each pair's lists in `scores`."""
    task = RmTask(runner)
    model = load_reward(path, 0.0, runner.d.device, runner.pad_id).eval()
    bs = runner.job.rm.batch_size
    for i in range(0, len(enc), bs):
        chunk = enc[i : i + bs]
        b = to_device(task.batch([{**e, "margin": 0} for e in chunk]), runner.d.device)
        r = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[:, 0].float().tolist()
        h = len(chunk)
        for j in range(h):
            scores[i + j][0].append(r[j])
            scores[i + j][1].append(r[h + j])


def score(runner) -> dict[str, Any]:
    """mode score: every pair of rm.input scored by every model of rm.models, written to rm.output (JSONL)."""
    job = runner.job
    paths = job.rm.models or [job.model]
    recs = D.load_pairs(job.rm.input)
    enc = [
        D.encode_pair(runner.tok, p["prompt"], [p["chosen"], p["rejected"]], job.cutoff_len, job.system) for p in recs
    ]
    runner.events.emit("start", stage="rm", mode="score", models=paths, n_pairs=len(recs))
    scores = [[[], []] for _ in recs]
    for mi, path in enumerate(paths):
        score_pairs(runner, path, enc, scores)
        runner.events.emit("eval", model_index=mi, model=path, n_pairs=len(recs))
    names = [model_name(p) for p in paths]
    out = job.rm.output
    lines = [
        json.dumps({**p, "scores": {"chosen": c, "rejected": r, "models": names}}, ensure_ascii=False) + "\n"
        for p, (c, r) in zip(recs, scores)
    ]
    atomic_write_text(out, "".join(lines))
    res = {"stage": "rm", "mode": "score", "output": out, "n_pairs": len(recs), "interrupted": False}
    runner.events.emit("done", **res)
    return res
