"""dpo.engine "trl": TRL's DPOTrainer with this package's data, reference, optimizers and events."""

import os

import pytest
import torch
from safetensors.torch import load_file

from conftest import of, run_job, run_torchrun, run_until_sigint, write_jsonl
from test_stages import easy_pairs


def _job(models_dir, data_path, out, **over):
    job = {
        "version": 1,
        "stage": "dpo",
        "model": str(models_dir["sft"]),
        "output_dir": str(out),
        "cutoff_len": 96,
        "data": {"train": str(data_path)},
        "train": {
            "max_steps": 2,
            "batch_size": 6,
            "lr": 2e-3,
            "scheduler": "cosine",
            "warmup_steps": 1,
            "dropout": 0.0,
            "keep_best": False,
        },
        "dpo": {"beta": 0.1, "engine": "trl"},
    }
    for k, v in over.items():
        job[k] = {**job.get(k, {}), **v} if isinstance(v, dict) else v
    return job


def _weights(done: dict) -> dict[str, torch.Tensor]:
    return load_file(os.path.join(done["final_model"], "model.safetensors"))


@pytest.mark.parametrize(
    "optimizer",
    [
        {"name": "adamw"},
        {"name": "ondare", "p": 0.5, "alpha": 0.5, "allow_large_alpha": True},
        {"name": "onties", "p": 0.3, "alpha": 0.5, "allow_large_alpha": True},
    ],
)
def test_trl_engine_matches_builtin_loop(models_dir, tmp_path, optimizer):
    """One batch holds every example, so both engines see the same data each step: the losses, reward metrics and
    the trained weights must agree (AdamW and both online-merging optimizers, τ from base → sft)."""
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(6))
    opt = dict(optimizer)
    if opt["name"] != "adamw":
        opt["base_model"] = str(models_dir["base"])
    runs = {}
    for engine in ("sfmed", "trl"):
        job = _job(models_dir, data, tmp_path / engine, optimizer=opt, dpo={"engine": engine})
        rc, ev, err = run_job(job, tmp_path)
        assert rc == 0, err
        runs[engine] = ev
    a, b = of(runs["sfmed"], "step"), of(runs["trl"], "step")
    assert [s["step"] for s in a] == [s["step"] for s in b] == [1, 2]
    for sa, sb in zip(a, b):
        for k in ("loss", "reward_margin", "rewards_chosen", "logps_chosen", "logps_rejected", "lr"):
            # step 2 follows an update: OnTIES' top-k may swap an element tied in the last bits (see below)
            assert sb[k] == pytest.approx(sa[k], rel=1e-5 if sa["step"] == 1 else 1e-3, abs=1e-6), (sa["step"], k)
    assert b[1]["reward_margin"] > 0  # the second step sees the first update
    # Adam's first steps are nearly sign(g), so gradients that differ in the last float bits (TRL's
    # selective_log_softmax vs a gathered log_softmax) move a few elements with |g| ≈ eps: compare whole updates.
    start = load_file(str(models_dir["sft"] / "model.safetensors"))
    wa, wb = _weights(of(runs["sfmed"], "done")[-1]), _weights(of(runs["trl"], "done")[-1])
    assert wa.keys() == wb.keys() == start.keys()
    agree, total = 0, 0
    for k in wa:
        ua, ub = wa[k] - start[k], wb[k] - start[k]
        assert ua.norm() > 0, k
        agree += int(torch.isclose(ub, ua, rtol=1e-4, atol=1e-6).sum())
        total += ua.numel()
        if opt["name"] != "onties":
            assert (ua - ub).norm() <= 2e-3 * ua.norm(), k
    # OnTIES keeps the top p·n of |Δ|, and Adam's first |Δ| are all ≈ lr: many elements tie at the threshold, so
    # last-bit differences in g move a few percent of them across it.
    assert agree / total >= (0.97 if opt["name"] == "onties" else 0.999)
    assert of(runs["trl"], "start")[0]["engine"] == "trl"


def test_trl_engine_events_eval_best_and_resume(models_dir, tmp_path):
    """Events carry the same keys as the built-in loop; resuming a TRL checkpoint reproduces the uninterrupted
    losses; keep_best writes `best`."""
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(16))
    train = {"max_steps": 4, "batch_size": 2, "grad_accum": 2, "save_steps": 2, "eval_steps": 2, "keep_best": True}
    job = _job(
        models_dir,
        data,
        tmp_path / "full",
        train=train,
        data={"eval_ratio": 0.25},
        dpo={"sft_weight": 0.1, "loss_type": "robust", "label_smoothing": 0.1},
    )
    rc, ev, err = run_job(job, tmp_path)
    assert rc == 0, err
    steps = of(ev, "step")
    assert [s["step"] for s in steps] == [1, 2, 3, 4]
    assert {
        "loss",
        "lr",
        "grad_norm",
        "rewards_chosen",
        "rewards_rejected",
        "reward_accuracy",
        "reward_margin",
        "logps_chosen",
        "logps_rejected",
        "epoch",
        "total_steps",
    } <= steps[0].keys()
    assert steps[0]["reward_margin"] == pytest.approx(0.0, abs=1e-5)  # policy == reference before the first update
    evals = of(ev, "eval")
    assert [e["step"] for e in evals] == [2, 4] and "eval_reward_margin" in evals[0]
    assert [c["step"] for c in of(ev, "checkpoint")] == [2, 4]
    done = of(ev, "done")[-1]
    assert done["interrupted"] is False and done["best_step"] in (2, 4)
    assert done["model"].endswith("best")
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(done["model"])
    AutoModelForCausalLM.from_pretrained(done["final_model"])

    job2 = {
        **_job(
            models_dir,
            data,
            tmp_path / "full",
            train=train,
            data={"eval_ratio": 0.25},
            dpo={"sft_weight": 0.1, "loss_type": "robust", "label_smoothing": 0.1},
        ),
        "resume_from": str(tmp_path / "full" / "checkpoint-2"),
    }
    job2["output_dir"] = str(tmp_path / "resumed")
    rc, ev2, err = run_job(job2, tmp_path)
    assert rc == 0, err
    full = {s["step"]: s["loss"] for s in steps}
    resumed = {s["step"]: s["loss"] for s in of(ev2, "step")}
    assert sorted(resumed) == [3, 4]
    for k in resumed:
        assert resumed[k] == pytest.approx(full[k], rel=1e-5, abs=1e-7), k


@pytest.mark.parametrize(
    "over, path",
    [
        ({"dpo": {"loss_type": "sigmoid", "label_smoothing": 0.1}}, "dpo.label_smoothing"),
        ({"resume_from": "/nonexistent/checkpoint-3"}, "resume_from"),
    ],
)
def test_trl_engine_refuses_what_it_cannot_do(models_dir, tmp_path, over, path):
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(4))
    rc, ev, err = run_job(_job(models_dir, data, tmp_path / "x", **over), tmp_path)
    assert rc != 0
    e = of(ev, "error")[-1]
    assert e["message"].startswith(path + ":") or f" {path}:" in e["message"], e["message"]


def test_engine_is_validated(models_dir, tmp_path):
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(4))
    rc, ev, err = run_job(_job(models_dir, data, tmp_path / "x", dpo={"engine": "deepspeed"}), tmp_path)
    assert rc == 2
    assert of(ev, "error")[-1]["message"].startswith(f"{tmp_path}") and "dpo.engine" in of(ev, "error")[-1]["message"]


def test_trl_engine_sigint_checkpoints_and_resumes(models_dir, tmp_path):
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(8))
    job = _job(models_dir, data, tmp_path / "s", train={"max_steps": 400, "batch_size": 2})
    rc, events, err = run_until_sigint(job, tmp_path, after_step=2)
    assert rc == 130, err  # 128 + SIGINT, after the checkpoint and the done event
    done = of(events, "done")[-1]
    assert done["interrupted"] is True and 2 <= done["step"] < 400
    assert os.path.exists(os.path.join(done["checkpoint"], "trainer_state.json"))
    job2 = {
        **_job(models_dir, data, tmp_path / "s", train={"max_steps": done["step"] + 2, "batch_size": 2}),
        "resume_from": done["checkpoint"],
    }
    rc, ev2, err = run_job(job2, tmp_path)
    assert rc == 0, err
    assert [s["step"] for s in of(ev2, "step")] == [done["step"] + 1, done["step"] + 2]


def test_trl_engine_two_processes_gloo(models_dir, tmp_path):
    """torchrun with 2 CPU processes: transformers' Trainer wraps the policy in DDP on the process group the
    runner opened; only rank 0 emits events; OnDARE draws the same masks on both ranks, so the run completes."""
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(8))
    job = _job(
        models_dir,
        data,
        tmp_path / "ddp",
        train={"max_steps": 3, "batch_size": 2},
        optimizer={
            "name": "ondare",
            "p": 0.5,
            "alpha": 0.5,
            "allow_large_alpha": True,
            "base_model": str(models_dir["base"]),
        },
    )
    rc, ev, err = run_torchrun(job, tmp_path)
    assert rc == 0, err[-3000:]
    start = of(ev, "start")
    assert len(start) == 1 and start[0]["world_size"] == 2 and start[0]["engine"] == "trl"
    assert [s["step"] for s in of(ev, "step")] == [1, 2, 3]
    done = of(ev, "done")
    assert len(done) == 1 and done[0]["interrupted"] is False
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(done[0]["final_model"])


def test_trl_engine_deepspeed_zero3_two_processes(models_dir, tmp_path):
    """train.sharding deepspeed: DeepSpeed ZeRO-3 (CPU accelerator, gloo) over 2 processes gives the same
    per-step losses as one process with the whole batch, and writes a gathered, loadable final model."""
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(8))
    single = _job(models_dir, data, tmp_path / "one", train={"max_steps": 3, "batch_size": 4})
    rc, ev1, err = run_job(single, tmp_path)
    assert rc == 0, err
    job = _job(models_dir, data, tmp_path / "ds", train={"max_steps": 3, "batch_size": 2, "sharding": "deepspeed"})
    rc, ev, err = run_torchrun(job, tmp_path)
    assert rc == 0, err[-3000:]
    start = of(ev, "start")
    assert len(start) == 1 and start[0]["strategy"] == "deepspeed" and start[0]["world_size"] == 2
    assert start[0]["params"] == of(ev1, "start")[0]["params"]  # counted from ZeRO-3 partitions
    # 2 ranks × 2 examples = the single run's 4 per step: accelerate shards the first epoch's shuffled order
    # across ranks, so epoch 1 (steps 1-2) sees the same examples (epoch 2 reshuffles per sampler)
    s1, s2 = of(ev1, "step"), of(ev, "step")
    assert [s["step"] for s in s2] == [1, 2, 3]
    for a, b in zip(s1[:2], s2[:2]):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4), a["step"]
    assert s2[-1]["loss"] < s2[0]["loss"] and s2[-1]["reward_margin"] > 0
    done = of(ev, "done")[0]
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(done["final_model"])
    w = load_file(os.path.join(done["final_model"], "model.safetensors"))
    ref = load_file(str(models_dir["sft"] / "model.safetensors"))
    assert w.keys() == ref.keys() and all(w[k].shape == ref[k].shape for k in w)  # gathered, not partitions
    assert any((w[k] - ref[k]).abs().max() > 0 for k in w)


@pytest.mark.parametrize(
    "over, path",
    [
        (
            {"optimizer": {"name": "ondare", "p": 0.5, "alpha": 0.5, "base_model": "/x", "rescale": "l1"}},
            "optimizer.rescale",
        ),
        ({"dpo": {"engine": "sfmed"}}, "train.sharding"),
        ({"dpo": {"precompute_ref": True}}, "dpo.precompute_ref"),
    ],
)
def test_deepspeed_limits_fail_before_loading(models_dir, tmp_path, over, path):
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(4))
    job = _job(models_dir, data, tmp_path / "x", train={"sharding": "deepspeed"}, **over)
    rc, ev, err = run_job(job, tmp_path)
    assert rc == 2  # job validation, before any model loads
    assert f"{path}:" in of(ev, "error")[-1]["message"]
