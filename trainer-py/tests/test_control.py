import os
import signal
import time

import pytest

from conftest import of, run_job, run_until_sigint


def _job(models_dir, data_dir, out, p=0.05, **train):
    # p = 0.05 takes OnDARE's index path (geometric-gap masks, sparse tau); p = 0.5 the dense one
    return {
        "version": 1,
        "stage": "sft",
        "model": str(models_dir["sft"]),
        "output_dir": str(out),
        "cutoff_len": 64,
        "data": {"train": str(data_dir["sft"]), "max_samples": 40},
        "optimizer": {
            "name": "ondare",
            "p": p,
            "alpha": 1e-3,
            "allow_large_alpha": True,
            "base_model": str(models_dir["base"]),
        },
        "train": {"batch_size": 2, "grad_accum": 2, "lr": 2e-3, "dropout": 0.1, "warmup_steps": 2, **train},
    }


def test_resume_equals_uninterrupted(models_dir, data_dir, tmp_path):
    job = _job(models_dir, data_dir, tmp_path / "a", max_steps=6, save_steps=3)
    rc, ev, err = run_job(job, tmp_path)
    assert rc == 0, err
    full = {s["step"]: s["loss"] for s in of(ev, "step")}
    ck = tmp_path / "a" / "checkpoint-3"
    assert ck.is_dir() and [c["step"] for c in of(ev, "checkpoint")] == [3]
    job2 = {**_job(models_dir, data_dir, tmp_path / "b", max_steps=6, save_steps=3), "resume_from": str(ck)}
    rc, ev2, err = run_job(job2, tmp_path)
    assert rc == 0, err
    assert of(ev2, "start")[0]["start_step"] == 3
    resumed = {s["step"]: s["loss"] for s in of(ev2, "step")}
    assert sorted(resumed) == [4, 5, 6]
    for k in resumed:
        assert resumed[k] == pytest.approx(full[k], rel=1e-6, abs=1e-7), k
    # dropout and DARE masks draw from restored RNG state: the final weights match too
    from safetensors.torch import load_file

    wa = load_file(str(tmp_path / "a" / "final" / "model.safetensors"))
    wb = load_file(str(tmp_path / "b" / "final" / "model.safetensors"))
    for k in wa:
        assert (wa[k] - wb[k]).abs().max().item() < 1e-6, k


def test_sigint_leaves_usable_checkpoint(models_dir, data_dir, tmp_path):
    job = _job(models_dir, data_dir, tmp_path / "s", max_steps=400)
    rc, events, err = run_until_sigint(job, tmp_path, after_step=2)
    assert rc == 130, err  # 128 + SIGINT, after the checkpoint and the done event
    done = of(events, "done")[-1]
    assert done["interrupted"] is True and done["step"] < 400
    ck = done["checkpoint"]
    assert os.path.exists(os.path.join(ck, "model.safetensors")) and os.path.exists(
        os.path.join(ck, "trainer_state.pt")
    )
    # the checkpoint resumes and finishes
    job2 = {**_job(models_dir, data_dir, tmp_path / "s", max_steps=done["step"] + 2), "resume_from": ck}
    rc, ev2, err = run_job(job2, tmp_path)
    assert rc == 0, err
    assert [s["step"] for s in of(ev2, "step")] == [done["step"] + 1, done["step"] + 2]


@pytest.mark.parametrize(
    "patch,path",
    [
        ({"train": {"lrr": 1}}, "train.lrr"),
        ({"train": {"lr": "fast"}}, "train.lr"),
        ({"optimizer": {"name": "sgd"}}, "optimizer.name"),
        ({"optimizer": {"name": "ondare", "alpha": 0.1}}, "optimizer.base_model"),
        ({"dpo": {"beta": 0.1}}, "dpo"),
        ({"cutoff_len": 2}, "cutoff_len"),
        ({"data": {"train": "x.jsonl", "eval_ratio": 0.9}}, "data.eval_ratio"),
        ({"extra": True}, "extra"),
    ],
)
def test_bad_job_fails_fast_with_key_path(tmp_path, patch, path):
    job = {
        "version": 1,
        "stage": "sft",
        "model": "/nonexistent/model",
        "output_dir": str(tmp_path / "o"),
        "data": {"train": "x.jsonl"},
        **patch,
    }
    t0 = time.time()
    rc, ev, err = run_job(job, tmp_path, timeout=60, subprocess_=True)
    assert rc == 2
    e = of(ev, "error")[0]
    assert e["type"] == "JobError" and f"{path}:" in e["message"], e["message"]
    assert time.time() - t0 < 20
    assert not (tmp_path / "o").exists()


def test_schema_is_standard_2020_12():
    from jsonschema import Draft202012Validator

    from sfmed_trainer.config import load_schema

    s = load_schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(s)


def test_bad_data_names_file_line_field(models_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id":"a","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}\n'
        '{"id":"b","messages":[{"role":"user","content":"hi"},{"role":"user","content":"again"}]}\n',
        encoding="utf-8",
    )
    job = {
        "version": 1,
        "stage": "sft",
        "model": str(models_dir["sft"]),
        "output_dir": str(tmp_path / "o"),
        "data": {"train": str(bad)},
    }
    rc, ev, err = run_job(job, tmp_path)
    assert rc == 1
    e = of(ev, "error")[0]
    assert e["type"] == "DataError" and f"{bad}:2: messages[1].role" in e["message"]


def test_sigterm_checkpoints_like_sigint(models_dir, data_dir, tmp_path):
    """Schedulers (Slurm, Kubernetes) stop jobs with SIGTERM: the same checkpoint and done event, exit 143."""
    job = _job(models_dir, data_dir, tmp_path / "t", max_steps=400)
    rc, events, err = run_until_sigint(job, tmp_path, after_step=2, sig=signal.SIGTERM)
    assert rc == 143, err
    done = of(events, "done")[-1]
    assert done["interrupted"] is True and 2 <= done["step"] < 400
    assert of(events, "checkpoint")[-1]["path"] == done["checkpoint"]
    from sfmed_trainer.checkpoint import checkpoint_complete

    assert checkpoint_complete(done["checkpoint"])


def test_resume_falls_back_to_newest_complete_checkpoint(models_dir, data_dir, tmp_path):
    out = tmp_path / "r"
    rc, ev, err = run_job(_job(models_dir, data_dir, out, max_steps=5, save_steps=2), tmp_path)
    assert rc == 0, err
    assert [c["step"] for c in of(ev, "checkpoint")] == [2, 4]
    (out / "checkpoint-4" / "trainer_state.pt").unlink()  # a partial newest checkpoint
    (out / "checkpoint-99.tmp").mkdir()  # and what a killed save leaves behind
    (out / "checkpoint-99.tmp" / "config.json").write_text("{}")
    job = {**_job(models_dir, data_dir, out, max_steps=5, save_steps=2), "resume_from": str(out / "checkpoint-4")}
    rc, ev2, err = run_job(job, tmp_path)
    assert rc == 0, err
    [w] = [w for w in of(ev2, "warning") if w["code"] == "resume_fallback"]
    assert w["requested"] == str(out / "checkpoint-4") and w["resume_from"] == str(out / "checkpoint-2")
    assert of(ev2, "start")[0]["start_step"] == 2 and [s["step"] for s in of(ev2, "step")] == [3, 4, 5]
    assert not (out / "checkpoint-99.tmp").exists()
    # the output folder itself names its newest complete checkpoint; nothing complete is refused before loading
    from sfmed_trainer.checkpoint import newest_complete_checkpoint

    assert newest_complete_checkpoint(str(out)) == str(out / "checkpoint-4")
    empty = tmp_path / "empty"
    (empty / "checkpoint-3").mkdir(parents=True)
    rc, ev3, err = run_job(
        {**job, "output_dir": str(tmp_path / "r3"), "resume_from": str(empty / "checkpoint-3")}, tmp_path
    )
    assert rc == 2 and of(ev3, "error")[0]["message"].startswith("resume_from: ")


def test_trainer_state_loads_weights_only(models_dir, data_dir, tmp_path):
    """Checkpoints hold tensors and plain values only and load with torch.load(weights_only=True): a
    trainer_state.pt that carries code is refused, and the code never runs."""
    import torch

    out = tmp_path / "w"
    rc, ev, err = run_job(_job(models_dir, data_dir, out, max_steps=3, save_steps=2), tmp_path)
    assert rc == 0, err
    ck = out / "checkpoint-2"
    st = torch.load(ck / "trainer_state.pt", weights_only=True)  # what the trainer writes passes
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({**st, "best": Payload()}, ck / "trainer_state.pt")
    rc, ev2, err = run_job(
        {**_job(models_dir, data_dir, tmp_path / "w2", max_steps=3), "resume_from": str(ck)}, tmp_path
    )
    assert rc == 1 and "weights_only" in of(ev2, "error")[0]["message"]
    assert not marker.exists()


def test_sweep_stale_restores_or_removes_what_a_killed_save_left(tmp_path):
    from sfmed_trainer.checkpoint import sweep_stale

    out = tmp_path / "o"
    for d in (
        "checkpoint-4.tmp",
        "best",
        "best.old",
        "model-1/final.tmp",
        "checkpoint-6.old",
        "checkpoint-6.tmp",
        "checkpoint-8.old",
    ):
        (out / d).mkdir(parents=True)
        (out / d / "tag").write_text(d)
    (out / "scores.jsonl.tmp").write_text("a file is left alone")
    sweep_stale(str(out))
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_dir())
    # killed between the two renames: checkpoint-6.tmp was complete (it becomes checkpoint-6), checkpoint-8's old
    # copy goes back into place
    assert left == ["best", "checkpoint-6", "checkpoint-8", "model-1"]
    assert (out / "checkpoint-6" / "tag").read_text() == "checkpoint-6.tmp"
    assert (out / "checkpoint-8" / "tag").read_text() == "checkpoint-8.old"
    assert (out / "best" / "tag").read_text() == "best" and (out / "scores.jsonl.tmp").exists()
