"""FSDP2 with 2 CPU processes (gloo, torchrun): sharded training equals the unsharded run, checkpoints are
gathered HF folders, resume continues exactly, and the online-merging optimizers work on shards."""

import json
import math
import os
import socket
import subprocess
import sys

import pytest
import torch

from conftest import TRAINER, of, run_job, spawn_ranks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(job: dict, tmp, name: str, env: dict | None = None, stderr: list | None = None) -> list[dict]:
    jp = tmp / f"{name}.json"
    jp.write_text(json.dumps(job), encoding="utf-8")
    e = {**os.environ, "PYTHONPATH": str(TRAINER), "OMP_NUM_THREADS": "1", **(env or {})}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        "-m",
        "sfmed_trainer",
        "run",
        str(jp),
    ]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=e)
    assert cp.returncode == 0, cp.stderr[-4000:]
    if stderr is not None:
        stderr.append(cp.stderr)
    return [json.loads(l) for l in cp.stdout.splitlines() if l.startswith("{")]


def weights(folder) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def sft_job(models_dir, data_dir, out, **train):
    return {
        "version": 1,
        "stage": "sft",
        "model": str(models_dir["sft"]),
        "output_dir": str(out),
        "cutoff_len": 64,
        "data": {"train": str(data_dir["sft"]), "max_samples": 30, "eval_ratio": 0.1},
        "train": {
            "max_steps": 4,
            "batch_size": 2,
            "grad_accum": 1,
            "lr": 2e-3,
            "save_steps": 2,
            "eval_steps": 1,
            "dropout": 0.0,
            **train,
        },
    }  # no dropout: ranks and one process must see the same forward


def test_fsdp_sft_adamw_equals_single_process_and_resumes(models_dir, data_dir, tmp_path):
    # Gradient checkpointing recomputes the same values (no dropout), so it must not change the result.
    ev = torchrun(
        sft_job(models_dir, data_dir, tmp_path / "fsdp", sharding="fsdp", gradient_checkpointing=True), tmp_path, "fsdp"
    )
    start = of(ev, "start")[0]
    assert start["strategy"] == "fsdp" and start["world_size"] == 2
    steps = [s["loss"] for s in of(ev, "step")]
    assert len(steps) == 4 and all(l == l and abs(l) < 1e3 for l in steps)
    assert [c["step"] for c in of(ev, "checkpoint")] == [2]
    ck = tmp_path / "fsdp" / "checkpoint-2"
    # optimizer state as DCP shards (one file per rank) + names/hyperparameters: loadable on any world size
    assert (ck / "optimizer" / ".metadata").exists() and (ck / "optimizer_meta.pt").exists()
    assert len(list((ck / "optimizer").glob("*.distcp"))) == 2
    fsdp_final = weights(tmp_path / "fsdp" / "final")

    # One process, the same examples per optimizer step (2 ranks × batch 2 = 1 rank × batch 2 × accum 2).
    rc, ev1, err = run_job(sft_job(models_dir, data_dir, tmp_path / "single", grad_accum=2), tmp_path)
    assert rc == 0, err[-3000:]
    single = [s["loss"] for s in of(ev1, "step")]
    assert single == pytest.approx(steps, rel=1e-5, abs=1e-6)
    # 3 eval examples over 2 ranks: rank 1 pads with a weight-0 batch so both run as many forwards.
    # Evaluations after every step (no_grad forwards between optimizer steps) leave the training unchanged.
    assert [e["n"] for e in of(ev, "eval")] == [3] * 4 and [e["n"] for e in of(ev1, "eval")] == [3] * 4
    assert max_diff(fsdp_final, weights(tmp_path / "single" / "final")) < 1e-6

    # Resume the sharded run from its checkpoint: the same losses and final weights.
    ev2 = torchrun(
        {**sft_job(models_dir, data_dir, tmp_path / "fsdp", sharding="fsdp"), "resume_from": str(ck)},
        tmp_path,
        "fsdp-resume",
    )
    assert of(ev2, "start")[0]["start_step"] == 2
    assert [s["loss"] for s in of(ev2, "step")] == pytest.approx(steps[2:], rel=1e-6, abs=1e-7)
    assert max_diff(fsdp_final, weights(tmp_path / "fsdp" / "final")) < 1e-7

    # The same checkpoint resumes in one process (2 ranks × batch 2 = batch 2 × accumulation 2): DCP reads
    # each full moment tensor from the two rank files; the run continues as the sharded one did.
    rc, ev3, err = run_job(
        {**sft_job(models_dir, data_dir, tmp_path / "other", grad_accum=2), "resume_from": str(ck)}, tmp_path
    )
    assert rc == 0, err[-3000:]
    assert of(ev3, "start")[0]["start_step"] == 2 and of(ev3, "start")[0]["strategy"] == "single"
    assert [s["loss"] for s in of(ev3, "step")] == pytest.approx(steps[2:], rel=1e-5, abs=1e-6)
    assert max_diff(fsdp_final, weights(tmp_path / "other" / "final")) < 1e-6

    # And the other way: the one-process checkpoint resumes sharded over 2 ranks.
    ev4 = torchrun(
        {
            **sft_job(models_dir, data_dir, tmp_path / "single", sharding="fsdp"),
            "resume_from": str(tmp_path / "single" / "checkpoint-2"),
        },
        tmp_path,
        "single-to-fsdp",
    )
    assert of(ev4, "start")[0]["strategy"] == "fsdp" and of(ev4, "start")[0]["start_step"] == 2
    assert [s["loss"] for s in of(ev4, "step")] == pytest.approx(single[2:], rel=1e-5, abs=1e-6)


def test_fsdp_dpo_ondare_sharded_tau(models_dir, data_dir, tmp_path):
    """ACCELERATE_USE_FSDP selects FSDP; with p = 1 the OnDARE update has no random mask, so the per-shard
    τ and update must reproduce the unsharded run; p = 0.5 then runs with per-rank masks."""

    def job(out, p, accum, **extra):
        return {
            "version": 1,
            "stage": "dpo",
            "model": str(models_dir["sft"]),
            "output_dir": str(out),
            "cutoff_len": 64,
            "data": {"train": str(data_dir["pairs"]), "max_samples": 16},
            "optimizer": {
                "name": "ondare",
                "p": p,
                "alpha": 1e-2,
                "allow_large_alpha": True,
                "base_model": str(models_dir["base"]),
            },
            "train": {
                "max_steps": 3,
                "batch_size": 1,
                "grad_accum": accum,
                "lr": 2e-3,
                "keep_best": False,
                "dropout": 0.0,
                **extra,
            },
            "dpo": {"beta": 0.1},
        }

    ev = torchrun(job(tmp_path / "fsdp", 1.0, 1, save_steps=2), tmp_path, "dpo", env={"ACCELERATE_USE_FSDP": "true"})
    start = of(ev, "start")[0]
    assert start["strategy"] == "fsdp" and start["requested_sharding"] == "fsdp"
    losses = [s["loss"] for s in of(ev, "step")]
    rc, ev1, err = run_job(job(tmp_path / "single", 1.0, 2), tmp_path)
    assert rc == 0, err[-3000:]
    assert [s["loss"] for s in of(ev1, "step")] == pytest.approx(losses, rel=1e-5, abs=1e-6)
    fsdp_final = weights(tmp_path / "fsdp" / "final")
    assert max_diff(fsdp_final, weights(tmp_path / "single" / "final")) < 1e-6

    # OnlineMergeAdamW's per-rank moment shards (plain local tensors) resume in one process: step 3 matches.
    ck = tmp_path / "fsdp" / "checkpoint-2"
    rc, ev2, err = run_job({**job(tmp_path / "one", 1.0, 2), "resume_from": str(ck)}, tmp_path)
    assert rc == 0, err[-3000:]
    assert of(ev2, "start")[0]["start_step"] == 2
    assert [s["loss"] for s in of(ev2, "step")] == pytest.approx(losses[2:], rel=1e-5, abs=1e-6)
    assert "resumed on 1: per-rank mask generators reseeded" in err
    assert max_diff(fsdp_final, weights(tmp_path / "one" / "final")) < 1e-6


def _mask_worker(rank: int) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    from sfmed_trainer.optim import magnitude_mask, sharded_magnitude_mask

    mesh = init_device_mesh("cpu", (2,))
    g = torch.Generator().manual_seed(3)
    for shape in [(7, 5), (3, 4), (1, 6), (9,)]:
        # Few distinct magnitudes with both signs: many ties at the threshold, some on both ranks.
        full = (torch.randint(-4, 5, shape, generator=g) * 0.25).float()
        dt = distribute_tensor(full, mesh, [Shard(0)])
        for keep in (0.05, 0.3, 0.5, 0.77, 1.0):
            local = sharded_magnitude_mask(dt.to_local(), keep, dt)
            got = type(dt).from_local(local, mesh, dt.placements, shape=dt.shape, stride=dt.stride()).full_tensor()
            want = magnitude_mask(full, keep)
            assert torch.equal(got, want), (shape, keep, got, want)


def test_sharded_onties_mask_equals_global_topk(tmp_path):
    """OnTIES's trim over a dim-0-sharded tensor keeps exactly the unsharded top-k set, ties included."""
    spawn_ranks(_mask_worker, tmp_path)


def dpo_job(models_dir, data_dir, out, optimizer: dict, accum: int, **train):
    return {
        "version": 1,
        "stage": "dpo",
        "model": str(models_dir["sft"]),
        "output_dir": str(out),
        "cutoff_len": 64,
        "data": {"train": str(data_dir["pairs"]), "max_samples": 16},
        "optimizer": {"alpha": 1e-2, "allow_large_alpha": True, "base_model": str(models_dir["base"]), **optimizer},
        "train": {
            "max_steps": 3,
            "batch_size": 1,
            "grad_accum": accum,
            "lr": 2e-3,
            "keep_best": False,
            "dropout": 0.0,
            **train,
        },
        "dpo": {"beta": 0.1},
    }


def test_fsdp_dpo_onties_global_trim_close_to_single(models_dir, data_dir, tmp_path):
    """OnTIES under FSDP (global top-k over shards). Not bit-equal to one process: FSDP's gradients differ
    from the unsharded ones in the last bits (reduce-scatter and sharded norm arithmetic; grad_norm differs
    at ~1e-6), and Adam's first steps make |Δ| almost all equal (≈ lr), so those bits decide ties in the
    top-k. The trim itself is exact (test_sharded_onties_mask_equals_global_topk); here the losses agree
    to 1e-3 and the run trains."""
    opt = {"name": "onties", "p": 0.5}
    job = dpo_job(models_dir, data_dir, tmp_path / "fsdp", opt, 1, sharding="fsdp")
    job["dpo"]["precompute_ref"] = True  # a no_grad pass over the sharded policy before the first step
    ev = torchrun(job, tmp_path, "onties")
    assert of(ev, "start")[0]["strategy"] == "fsdp"
    losses = [s["loss"] for s in of(ev, "step")]
    assert len(losses) == 3 and all(math.isfinite(l) for l in losses)
    job1 = dpo_job(models_dir, data_dir, tmp_path / "single", opt, 2)
    job1["dpo"]["precompute_ref"] = True
    rc, ev1, err = run_job(job1, tmp_path)
    assert rc == 0, err[-3000:]
    assert [s["loss"] for s in of(ev1, "step")] == pytest.approx(losses, rel=1e-3)
    assert max_diff(weights(tmp_path / "fsdp" / "final"), weights(models_dir["sft"])) > 1e-4


def test_fsdp_dpo_ondare_masks_deepspeed_request(models_dir, data_dir, tmp_path):
    """A DeepSpeed request runs FSDP; OnDARE with p < 1 (per-rank masks, index path) trains and saves."""
    opt = {"name": "ondare", "p": 0.05}
    ev = torchrun(
        dpo_job(models_dir, data_dir, tmp_path / "fsdp", opt, 1),
        tmp_path,
        "ondare",
        env={"ACCELERATE_USE_DEEPSPEED": "true"},
    )
    start = of(ev, "start")[0]
    assert start["strategy"] == "fsdp" and start["requested_sharding"] == "deepspeed"
    steps = of(ev, "step")
    assert len(steps) == 3 and all(s["loss"] is not None and math.isfinite(s["loss"]) for s in steps)
    assert all(math.isfinite(s["reward_margin"]) for s in steps)
    after = weights(tmp_path / "fsdp" / "final")
    assert max_diff(after, weights(models_dir["sft"])) > 1e-4


def test_fsdp_bf16_mixed_precision_policy(models_dir, data_dir, tmp_path):
    """train.bf16 true under FSDP shards with MixedPrecisionPolicy(bf16 params, fp32 reduce) — it runs on
    CPU/gloo too — trains close to the one-process bf16 autocast run and saves fp32 weights."""
    err: list = []
    ev = torchrun(
        sft_job(
            models_dir,
            data_dir,
            tmp_path / "fsdp",
            sharding="fsdp",
            bf16=True,
            max_steps=2,
            save_steps=100,
            eval_steps=100,
        ),
        tmp_path,
        "bf16",
        stderr=err,
    )
    assert of(ev, "start")[0]["bf16"] is True
    assert "mp_policy=MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32" in err[0]
    losses = [s["loss"] for s in of(ev, "step")]
    rc, ev1, e1 = run_job(
        sft_job(
            models_dir,
            data_dir,
            tmp_path / "single",
            bf16=True,
            max_steps=2,
            grad_accum=2,
            save_steps=100,
            eval_steps=100,
        ),
        tmp_path,
    )
    assert rc == 0, e1[-3000:]
    assert [s["loss"] for s in of(ev1, "step")] == pytest.approx(losses, rel=2e-2)
    final = weights(tmp_path / "fsdp" / "final")
    assert max_diff(final, weights(models_dir["sft"])) > 1e-4


def test_fsdp_policies_from_job():
    from sfmed_trainer.config import TrainCfg
    from sfmed_trainer.sharding import fsdp_policies
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert fsdp_policies(TrainCfg(), cpu) == {}
    pol = fsdp_policies(TrainCfg(cpu_offload=True), cuda)  # bf16 "auto" on CUDA
    assert pol["mp_policy"] == MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    assert isinstance(pol["offload_policy"], CPUOffloadPolicy)
    assert set(fsdp_policies(TrainCfg(bf16=False, cpu_offload=True), cuda)) == {"offload_policy"}
    assert set(fsdp_policies(TrainCfg(bf16=True, cpu_offload=True), cpu)) == {"mp_policy"}  # offload: CUDA only


def _sharded_onties_worker(rank: int) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    from sfmed_trainer.optim import (
        SelectionState,
        SparseTau,
        magnitude_mask,
        onties_sharded_many_,
        onties_sharded_update_,
        onties_sparse_update_,
    )

    mesh = init_device_mesh("cpu", (2,))
    kw = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, alpha=0.3)
    # large shards (the compiled local selection), small tensors (k above a shard's size: the whole shard),
    # and Adam's first steps from zero moments on few gradient values: |Δ| ties across the cut, recounted
    cases = [
        ((900, 48), 0.01, False),
        ((900, 48), 0.2, False),
        ((11, 5), 0.3, False),
        ((9, 5), 0.7, False),
        ((700, 64), 0.02, True),
    ]
    # one parameter per call, then all five through onties_sharded_many_ with a budget that cuts them into
    # batches of one to three parameters (k·2 ranks·4 bytes: 3456, 69120, 128, 248, 7168)
    for batched in (None, 72_000, 1 << 30):
        g = torch.Generator().manual_seed(7)
        runs = []
        for shape, p, ties in cases:
            full_p = torch.randn(shape, generator=g)
            m0 = torch.zeros(shape) if ties else torch.randn(shape, generator=g) * 1e-3
            v0 = torch.zeros(shape) if ties else torch.rand(shape, generator=g) * 1e-6
            tau = torch.randn(shape, generator=g) * 1e-2
            tau = tau * magnitude_mask(tau, p)
            lt = distribute_tensor(tau.clone(), mesh, [Shard(0)]).to_local().contiguous().view(-1)
            lnz, nz = torch.nonzero(lt).flatten(), torch.nonzero(tau.view(-1)).flatten()
            runs.append(
                dict(
                    shape=shape,
                    p=p,
                    ties=ties,
                    want=full_p.clone(),
                    wm=m0.clone(),
                    wv=v0.clone(),
                    st1=SelectionState(),
                    wtau=SparseTau(nz, tau.view(-1)[nz]),
                    dp=distribute_tensor(full_p.clone(), mesh, [Shard(0)]),
                    lm=distribute_tensor(m0.clone(), mesh, [Shard(0)]).to_local().contiguous(),
                    lv=distribute_tensor(v0.clone(), mesh, [Shard(0)]).to_local().contiguous(),
                    lt=SparseTau(lnz, lt[lnz].clone()),  # as compute_tau keeps a shard's τ at p ≤ 0.05
                    st2=SelectionState(),
                )
            )
        for step in (1, 2, 3):
            items = []
            for r in runs:
                gr = (
                    torch.randint(-2, 3, r["shape"], generator=g) * 0.25
                    if r["ties"]
                    else torch.randn(r["shape"], generator=g)
                ).float()
                onties_sparse_update_(
                    r["want"], gr, r["wm"], r["wv"], step, p=r["p"], tau=r["wtau"], state=r["st1"], **kw
                )
                lg = distribute_tensor(gr, mesh, [Shard(0)]).to_local().contiguous()
                item = dict(
                    param=r["dp"].to_local(),
                    grad=lg,
                    exp_avg=r["lm"],
                    exp_avg_sq=r["lv"],
                    step=step,
                    p=r["p"],
                    tau=r["lt"],
                    dprm=r["dp"],
                    state=r["st2"],
                    **kw,
                )
                if batched is None:
                    onties_sharded_update_(**item)
                else:
                    items.append(item)
            if batched is not None:
                onties_sharded_many_(items, mesh.get_group(), 2, budget=batched)
        for r in runs:
            got = r["dp"].full_tensor()
            # the same moments arithmetic element by element, the same global top-k set, the same merge: a
            # different kept set would show as differences of the order of lr·|u| ≫ 1e-6
            assert torch.allclose(got, r["want"], rtol=0, atol=1e-6), (
                batched,
                r["shape"],
                r["p"],
                (got - r["want"]).abs().max(),
            )


def test_sharded_onties_update_equals_one_process(tmp_path):
    """OnTIES on dim-0 shards with the compiled local selection and the global trim lands where the
    one-process step does, over three steps, ties and a small tensor included, one parameter at a time and
    with many parameters' all-gathers batched."""
    spawn_ranks(_sharded_onties_worker, tmp_path)


def _rank0_load_worker(rank: int, sft: str) -> None:
    from transformers import AutoModelForCausalLM

    from sfmed_trainer import sharding as S
    from sfmed_trainer.model_io import load_causal, load_reward

    m = load_causal(sft, 0.1, empty=rank != 0)
    assert all(p.is_meta for p in m.parameters()) == (rank != 0)
    S.shard_from_rank0(m, torch.device("cpu"))
    assert m.lm_head.weight is m.model.embed_tokens.weight  # the tie survives to_empty on the meta ranks
    want = AutoModelForCausalLM.from_pretrained(sft, dtype=torch.float32)
    for (name, b), (_, wb) in zip(m.named_buffers(), want.named_buffers()):
        assert torch.equal(b, wb), name  # rotary tables: not in the state dict, broadcast
    sd = S.full_state_dict(m)
    if rank == 0:
        assert sd.keys() == want.state_dict().keys()
        assert all(torch.equal(sd[k], v) for k, v in want.state_dict().items())
    x = torch.arange(12).view(2, 6)
    assert torch.allclose(m(input_ids=x).logits, want(input_ids=x).logits, atol=1e-6)

    # A reward model from a causal checkpoint: its new score head is drawn on rank 0 alone (a different seed
    # per rank shows that the other ranks' heads come from the broadcast, not from their own draw).
    torch.manual_seed(100 + rank)
    rm = S.shard_from_rank0(load_reward(sft, 0.0, pad_id=0, empty=rank != 0), torch.device("cpu"))
    head = rm.score.weight.full_tensor()
    heads = [torch.empty_like(head) for _ in range(2)]
    torch.distributed.all_gather(heads, head)
    assert torch.equal(heads[0], heads[1])
    torch.manual_seed(100)
    assert torch.equal(head, load_reward(sft, 0.0, pad_id=0).score.weight)


def test_fsdp_loads_weights_on_rank0_only(models_dir, tmp_path):
    """Under FSDP only rank 0 reads the checkpoint; the others build on the meta device and get their shards
    and buffers by broadcast: the same weights, ties, rotary tables and logits as from_pretrained, and a
    reward head drawn once."""
    spawn_ranks(_rank0_load_worker, tmp_path, str(models_dir["sft"]))
