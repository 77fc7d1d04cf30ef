"""OnDARE / OnTIES under DeepSpeed ZeRO-3 (ds_merge.py): the partition layout and global top-k on plain tensors,
τ slices equal to the unsharded τ, and 2-process ZeRO-3 runs against the one-process TRL engine."""

import os
import random

import pytest
import torch
from safetensors.torch import load_file

from conftest import of, run_job, run_torchrun, write_jsonl
from sfmed_trainer.ds_merge import partition_bounds, partition_of, partition_tau, partition_topk_masks
from sfmed_trainer.optim import compute_tau, magnitude_mask
from test_stages import easy_pairs
from test_trl_dpo import _job


def test_partition_bounds_cover_the_tensor_in_rank_order():
    rnd = random.Random(0)
    for _ in range(300):
        numel, world = rnd.randint(1, 50), rnd.randint(1, 9)
        full = torch.arange(1, numel + 1, dtype=torch.float32)
        parts = [partition_of(full, world, r) for r in range(world)]
        ps = -(-numel // world)
        assert all(p.numel() == ps for p in parts)  # DeepSpeed: ds_tensor holds aligned_size / world elements
        flat = torch.cat(parts)
        assert torch.equal(flat[:numel], full)  # rank order is flat index order
        assert not flat[numel:].any() and flat.numel() - numel == (-numel) % world  # zero padding at the end
        for r in range(world):
            start, valid, p = partition_bounds(numel, world, r)
            assert p == ps and start == r * ps and 0 <= valid <= ps
            assert torch.equal(parts[r][:valid], full[start : start + valid])


def test_partition_topk_equals_magnitude_mask_with_ties_and_padding():
    """The per-rank selection concatenated is magnitude_mask's set on the whole tensor: k = int(p·n) of the full
    tensor, ties at the threshold to the lower flat index, also when a rank holds nothing (n < world)."""
    rnd = random.Random(1)
    g = torch.Generator().manual_seed(1)
    for case in range(400):
        numel, world = rnd.randint(1, 60), rnd.randint(1, 6)
        keep = rnd.choice([0.01, 0.1, 0.3, 0.5, 0.77, 0.99, 1.0])
        levels = rnd.choice([2, 3, 5, 1000])  # few distinct magnitudes: many ties
        x = (torch.randint(0, levels, (numel,), generator=g).float() - levels // 2) * 0.25
        if case % 7 == 0:
            x = torch.zeros(numel)  # everything ties
        parts = []
        for r in range(world):
            start, valid, _ = partition_bounds(numel, world, r)
            parts.append(x[start : start + valid])
        masks = partition_topk_masks(parts, keep)
        got = torch.cat(masks)
        want = magnitude_mask(x, keep)
        assert torch.equal(got, want), (case, numel, world, keep, x)
        if keep < 1 and int(keep * numel) >= 1:
            assert int(got.sum()) == int(keep * numel)


@pytest.mark.parametrize("method, p", [("ondare", 0.5), ("onties", 0.3), ("ondare", 1.0)])
def test_partition_tau_slices_the_unsharded_tau(models_dir, method, p):
    """τ built per partition (streamed, sparsified on the full tensor with the same seed) equals the slices of
    compute_tau's τ: the same fixed DARE mask / top-k as an unsharded run."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(models_dir["sft"])
    named = [(n, q) for n, q in model.named_parameters() if q.requires_grad]
    full, missing = compute_tau(named, str(models_dir["sft"]), str(models_dir["base"]), method=method, p=p, seed=5)
    assert not missing
    for world in (2, 3):
        slices = [
            partition_tau(
                named, str(models_dir["sft"]), str(models_dir["base"]), method=method, p=p, world=world, rank=r, seed=5
            )[0]
            for r in range(world)
        ]
        for _, q in named:
            t = full[q]
            if not torch.is_tensor(t):  # SparseTau
                dense = torch.zeros(q.numel())
                dense[t.indices] = t.values
                t = dense
            got = torch.cat([s[q] for s in slices])
            assert torch.equal(got, t.reshape(-1).float())
            assert got.abs().sum() > 0
        if method == "ondare":  # the index form OnDARE keeps at small p holds the same entries
            sp = partition_tau(
                named,
                str(models_dir["sft"]),
                str(models_dir["base"]),
                method=method,
                p=p,
                world=world,
                rank=world - 1,
                seed=5,
                sparse=True,
            )[0]
            for _, q in named:
                dense = torch.zeros_like(slices[-1][q])
                dense[sp[q].indices] = sp[q].values
                assert torch.equal(dense, slices[-1][q])


def _weights(done: dict) -> dict[str, torch.Tensor]:
    return load_file(os.path.join(done["final_model"], "model.safetensors"))


def _pair(models_dir, tmp_path, data, name, optimizer):
    """The same job in one process (batch 4) and on 2 ZeRO-3 ranks (batch 2 each): (one-process events,
    ZeRO-3 events)."""
    opt = {**optimizer, "base_model": str(models_dir["base"])}
    one = _job(models_dir, data, tmp_path / f"{name}-one", optimizer=opt, train={"max_steps": 3, "batch_size": 4})
    rc, ev1, err = run_job(one, tmp_path)
    assert rc == 0, err
    ds = _job(
        models_dir,
        data,
        tmp_path / f"{name}-ds",
        optimizer=opt,
        train={"max_steps": 3, "batch_size": 2, "sharding": "deepspeed"},
    )
    rc, ev2, err = run_torchrun(ds, tmp_path)
    assert rc == 0, err[-3000:]
    assert of(ev2, "start")[0]["strategy"] == "deepspeed" and of(ev2, "start")[0]["optimizer"] == optimizer["name"]
    return ev1, ev2


@pytest.mark.parametrize(
    "optimizer",
    [
        {
            "name": "ondare",
            "p": 1.0,
            "alpha": 0.1,
            "allow_large_alpha": True,
        },  # τ merged every step, no random mask: deterministic
        # global top-k + sign election against τ. ε = 1e-3: with 1e-8, Adam's first |Δ| = lr·|g|/(|g|+ε) are a few
        # ulps apart for most |g| here, so the last-bit gradient differences between one process and a reduce-scatter
        # moved ~80 of 107k elements across the threshold (each then off by ~lr); with ε near |g| the ranking is stable.
        {"name": "onties", "p": 0.5, "alpha": 0.1, "allow_large_alpha": True, "eps": 1e-3},
        {
            "name": "onties",
            "p": 0.05,
            "alpha": 0.1,
            "allow_large_alpha": True,
            "eps": 1e-3,
        },  # τ slices kept sparse (p ≤ SPARSE_TAU_ONTIES_P)
    ],
)
def test_zero3_online_merge_matches_one_process(models_dir, tmp_path, optimizer):
    """12 examples, 4 per step: the 3 steps of the first epoch see the same examples in one process and on 2
    ZeRO-3 ranks, so the per-step losses and the final weights must agree; the merge must really act (the
    weights differ from AdamW's by far more than the 1-vs-2-process gap)."""
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(12))
    ev1, ev2 = _pair(models_dir, tmp_path, data, optimizer["name"], optimizer)
    s1, s2 = of(ev1, "step"), of(ev2, "step")
    assert [s["step"] for s in s2] == [1, 2, 3]
    for a, b in zip(s1, s2):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-6), a["step"]
        assert b["reward_margin"] == pytest.approx(a["reward_margin"], rel=1e-3, abs=1e-5), a["step"]
    assert s2[-1]["loss"] < s2[0]["loss"]
    adamw = _job(
        models_dir,
        data,
        tmp_path / "adamw",
        train={"max_steps": 3, "batch_size": 4},
        optimizer={"name": "adamw", "eps": optimizer.get("eps", 1e-8)},
    )
    rc, ev0, err = run_job(adamw, tmp_path)
    assert rc == 0, err
    w0, w1, w2 = (_weights(of(e, "done")[-1]) for e in (ev0, ev1, ev2))
    start = load_file(str(models_dir["sft"] / "model.safetensors"))
    gap = max((w2[k] - w1[k]).abs().max().item() for k in w1)
    merge = max((w1[k] - w0[k]).abs().max().item() for k in w1)
    agree = sum(int(torch.isclose(w2[k], w1[k], rtol=0, atol=1e-5).sum()) for k in w1) / sum(w1[k].numel() for k in w1)
    print(
        f"{optimizer['name']}: max |w(2 ranks) - w(1 process)| {gap:.3g}, elements within 1e-5 {agree:.6f}, "
        f"max |w(merge) - w(adamw)| {merge:.3g}, losses 1p {[s['loss'] for s in s1]} 2p {[s['loss'] for s in s2]}"
    )
    assert merge > 1e-3  # α·τ and the trim move the weights away from AdamW's
    assert all((w1[k] - start[k]).abs().max() > 0 for k in w1)
    assert gap < 1e-5 and agree == 1.0


@pytest.mark.parametrize("p", [0.5, 0.1])  # a dense Bernoulli mask; the index path with a sparse τ (p ≤ SPARSE_P)
def test_zero3_ondare_masks_train_and_resume(models_dir, tmp_path, p):
    """OnDARE with p < 1 on 2 ZeRO-3 ranks: per-rank masks, so no one-process twin; the run trains, ends away
    from AdamW's weights, saves a loadable model, and resuming its DeepSpeed checkpoint redraws the same masks
    (they are a function of seed, rank and step): the resumed step and final weights equal the uninterrupted run."""
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(12))
    opt = {"name": "ondare", "p": p, "alpha": 0.1, "allow_large_alpha": True, "base_model": str(models_dir["base"])}
    train = {"max_steps": 3, "batch_size": 2, "sharding": "deepspeed", "save_steps": 2}
    full = _job(models_dir, data, tmp_path / "full", optimizer=opt, train=train)
    rc, ev, err = run_torchrun(full, tmp_path)
    assert rc == 0, err[-3000:]
    steps = of(ev, "step")
    assert [s["step"] for s in steps] == [1, 2, 3] and steps[-1]["loss"] < steps[0]["loss"]
    done = of(ev, "done")[0]
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(done["final_model"])
    w = _weights(done)
    adamw = _job(models_dir, data, tmp_path / "adamw", train={"max_steps": 3, "batch_size": 4})
    rc, ev0, err = run_job(adamw, tmp_path)
    assert rc == 0, err
    w0 = _weights(of(ev0, "done")[-1])
    assert max((w[k] - w0[k]).abs().max().item() for k in w) > 1e-3

    resumed = {
        **_job(models_dir, data, tmp_path / "resumed", optimizer=opt, train=train),
        "resume_from": str(tmp_path / "full" / "checkpoint-2"),
    }
    rc, ev2, err = run_torchrun(resumed, tmp_path)
    assert rc == 0, err[-3000:]
    s2 = of(ev2, "step")
    assert [s["step"] for s in s2] == [3]
    assert s2[0]["loss"] == pytest.approx(steps[2]["loss"], rel=1e-6, abs=1e-7)
    wr = _weights(of(ev2, "done")[0])
    gap = max((wr[k] - w[k]).abs().max().item() for k in w)
    print(f"ondare p={p} resume: step-3 loss {steps[2]['loss']} vs {s2[0]['loss']}, max |w| gap {gap:.3g}")
    assert gap < 1e-6
