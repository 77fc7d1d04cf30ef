"""pt: continued pre-training. Medical documents are packed into cutoff_len blocks mixed with general text at
the job's ratio (data.pack_docs); the loss is sft's next-token loss on every position."""

from __future__ import annotations

from .. import data as D
from ..events import log
from .sft import train_causal


def load_examples(runner) -> tuple[list, list]:
    """(train, eval) packed blocks; the token mix goes into the `start` event (token_mix)."""
    job, cfg = runner.job, runner.job.data
    seed = job.train.seed
    docs, ev_docs = runner.split([d["text"] for d in D.load_docs(cfg.train, cfg.max_samples)], seed)
    if cfg.eval:
        ev_docs = [d["text"] for d in D.load_docs(cfg.eval)]
    general = [d["text"] for d in D.load_docs(job.pt.general)] if job.pt.general else []
    mix: dict = {}
    train = D.pack_docs(
        runner.tok, docs, general, job.pt.general_ratio, job.cutoff_len, seed, unit=job.pt.general_ratio_unit, stats=mix
    )
    runner.start_fields["token_mix"] = mix
    log(
        f"pt mix: {mix['medical_tokens']} medical + {mix['general_tokens']} general tokens "
        f"({mix['general_ratio']:.4f} general; target {mix['target_ratio']} in {mix['unit']})"
    )
    ev = D.pack_docs(runner.tok, ev_docs, [], 0.0, job.cutoff_len, seed) if ev_docs else []
    if not train:
        raise ValueError(f"data.train: not enough text for one block of cutoff_len={job.cutoff_len} tokens")
    return train, ev


def run(runner) -> dict:
    train, ev = load_examples(runner)
    runner.check_train(train)
    return train_causal(runner, train, ev)
