"""Preference pairs for rm and dpo: records read, split and encoded (prompt and both responses through the
chat template, cut to cutoff_len)."""

from __future__ import annotations

from .. import data as D


def encode(runner, rec: dict, with_ref: bool) -> dict:
    """One pair as token ids (+ its margin, and with `with_ref` the record's reference log-probs if any)."""
    job = runner.job
    e = D.encode_pair(runner.tok, rec["prompt"], [rec["chosen"], rec["rejected"]], job.cutoff_len, job.system)
    e["margin"] = rec.get("margin")
    ref = D.record_ref_logps(rec)
    if ref is not None and with_ref:
        e["ref_logps"] = ref
    return e


def load_examples(runner, with_ref: bool) -> tuple[list, list]:
    """(train, eval) encoded pairs."""
    job, cfg = runner.job, runner.job.data
    train, ev = runner.split(D.load_pairs(cfg.train, cfg.max_samples), job.train.seed)
    if cfg.eval:
        ev = D.load_pairs(cfg.eval)
    return [encode(runner, r, with_ref) for r in train], [encode(runner, r, with_ref) for r in ev]
