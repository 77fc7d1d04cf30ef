"""Job-level rules checked when the job is read: the α guard of online merging and the paper's defaults."""

import json

import pytest

from conftest import of, run_job
from sfmed_trainer import config as C


def _doc(tmp_path, *, alpha, name="ondare", train=None, optimizer=None, data=None, stage="dpo"):
    d = {
        "version": 1,
        "stage": stage,
        "model": "/m",
        "output_dir": str(tmp_path / "o"),
        "data": data or {"train": str(tmp_path / "missing.jsonl")},
        "train": train or {},
        "optimizer": {"name": name, "p": 0.01, "alpha": alpha, "base_model": "/b", **(optimizer or {})},
    }
    if name == "adamw":
        d["optimizer"] = {"name": "adamw"}
    return d


def test_alpha_bounds_are_the_shared_constants():
    assert C.ALPHA_STEPS_SOFT_BOUND == 1e-3 and C.ALPHA_STEPS_HARD_BOUND == 1e-2
    schema = C.load_schema()["$defs"]["optimizer"]["properties"]["allow_large_alpha"]
    assert schema["type"] == "boolean" and schema["default"] is False and "1e-2" in schema["description"]


def test_alpha_guard_with_max_steps(tmp_path):
    ok = C.parse_job(_doc(tmp_path, alpha=1e-7, train={"max_steps": 5000}))  # the official α: 5e-4
    assert ok.warnings == [] and ok.alpha_checked_steps == 5000
    warned = C.parse_job(_doc(tmp_path, alpha=1e-6, train={"max_steps": 5000}))
    [w] = warned.warnings
    assert w["code"] == "alpha_steps" and w["key"] == "optimizer.alpha" and w["steps"] == 5000
    assert w["alpha_steps"] == pytest.approx(5e-3) and w["bound"] == 1e-3
    with pytest.raises(C.JobError) as e:
        C.parse_job(_doc(tmp_path, alpha=1e-5, train={"max_steps": 5000}), file="job.json")
    msg = str(e.value)
    assert e.value.path == "optimizer.alpha" and msg.startswith("job.json: optimizer.alpha: ")
    for part in (
        "every optimizer step",
        "independent of lr",
        "0.05",
        "alpha = 1e-7 with p = 0.01",
        "allow_large_alpha",
    ):
        assert part in msg, part
    allowed = C.parse_job(_doc(tmp_path, alpha=1e-5, train={"max_steps": 5000}, optimizer={"allow_large_alpha": True}))
    assert allowed.optimizer.allow_large_alpha is True and allowed.warnings[0]["bound"] == 1e-2
    # AdamW has no α: nothing to check
    assert C.parse_job(_doc(tmp_path, alpha=0, name="adamw", train={"max_steps": 10**6})).warnings == []


def test_alpha_guard_counts_rows_and_ranks(tmp_path, monkeypatch):
    rows = tmp_path / "pairs.jsonl"
    rows.write_text("".join(json.dumps({"i": i}) + "\n" for i in range(100)) + "\n\n", encoding="utf-8")
    train = {"epochs": 3, "batch_size": 2, "grad_accum": 5}
    doc = _doc(tmp_path, alpha=5e-4, train=train, data={"train": str(rows)})
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(C.JobError, match="30 optimizer steps"):  # 3 × ⌈100 / 10⌉ = 30 steps: 1.5e-2
        C.parse_job(doc)
    monkeypatch.setenv("WORLD_SIZE", "2")
    job = C.parse_job(doc)  # 3 × ⌈100 / 20⌉ = 15 steps: 7.5e-3, a warning
    assert job.alpha_checked_steps == 15 and job.warnings[0]["alpha_steps"] == pytest.approx(7.5e-3)
    monkeypatch.delenv("WORLD_SIZE")
    held_out = C.parse_job(
        {**doc, "data": {"train": str(rows), "eval_ratio": 0.2}, "optimizer": {**doc["optimizer"], "alpha": 1e-4}}
    )
    assert held_out.alpha_checked_steps == 3 * 8  # 80 rows left after the eval split
    # a data file that does not exist yet: the trainer checks at start instead
    later = C.parse_job(_doc(tmp_path, alpha=5e-4, train=train))
    assert later.alpha_checked_steps is None and later.warnings == []


def test_alpha_guard_at_trainer_start_for_pt(models_dir, data_dir, tmp_path):
    """pt's examples are packed blocks, counted only once tokenised: the refusal comes before the model loads."""
    job = {
        "version": 1,
        "stage": "pt",
        "model": str(models_dir["sft"]),
        "output_dir": str(tmp_path / "pt"),
        "cutoff_len": 64,
        "data": {"train": str(data_dir["docs"]), "max_samples": 20},
        "train": {"epochs": 2, "batch_size": 1},
        "optimizer": {"name": "onties", "p": 0.5, "alpha": 0.01, "base_model": str(models_dir["base"])},
    }
    rc, ev, err = run_job(job, tmp_path)
    assert rc == 2, err
    [e] = of(ev, "error")
    assert e["type"] == "JobError" and e["message"].startswith("optimizer.alpha: ") and not of(ev, "start")
    assert not (tmp_path / "pt").exists() or not any((tmp_path / "pt").iterdir())


def test_dropout_default_follows_the_paper(tmp_path):
    """0.1 for pt/sft/rm (§4.1); 0 for dpo, as the paper's DPO trainer (LLaMA-Factory over TRL) disables it."""
    base = {"version": 1, "model": "/m", "output_dir": "/o", "data": {"train": "/d.jsonl"}}
    for stage in ("pt", "sft", "rm"):
        assert C.parse_job({**base, "stage": stage}).train.dropout == 0.1 == C.PAPER_DROPOUT
    assert C.parse_job({**base, "stage": "dpo"}).train.dropout == 0.0 == C.DPO_DROPOUT
    assert C.parse_job({**base, "stage": "dpo", "train": {"dropout": 0.1}}).train.dropout == 0.1
    assert C.parse_job({**base, "stage": "sft", "train": {"dropout": 0.0}}).train.dropout == 0.0
    assert "0.1 for pt, sft and rm" in C.load_schema()["$defs"]["train"]["properties"]["dropout"]["description"]


def test_general_ratio_unit(tmp_path):
    base = {"version": 1, "stage": "pt", "model": "/m", "output_dir": "/o", "data": {"train": "/d.jsonl"}}
    assert C.parse_job({**base, "pt": {"general": "/g.jsonl", "general_ratio": 0.52}}).pt.general_ratio_unit == "tokens"
    job = C.parse_job({**base, "pt": {"general": "/g.jsonl", "general_ratio": 0.1, "general_ratio_unit": "documents"}})
    assert job.pt.general_ratio_unit == "documents"
    with pytest.raises(C.JobError, match="pt.general_ratio_unit"):
        C.parse_job({**base, "pt": {"general_ratio_unit": "bytes"}})
