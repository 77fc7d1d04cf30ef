import json

import pytest

from conftest import of, run_job, write_jsonl


def easy_pairs(n: int) -> list[dict]:
    """An easy preference: chosen answers are polite English, rejected ones are repeated symbols."""
    out = []
    for i in range(n):
        out.append(
            {
                "id": f"e{i}",
                "prompt": [{"role": "user", "content": f"question {i}: fever and cough?"}],
                "chosen": "Please rest, drink water and see a doctor.",
                "rejected": "!!! ??? ### !!! ???",
            }
        )
    return out


@pytest.mark.parametrize("opt", ["adamw", "ondare", "onties"])
def test_dpo_margin_grows(models_dir, tmp_path, opt):
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(24))
    optimizer = {"name": opt}
    if opt != "adamw":
        optimizer.update({"p": 0.5, "alpha": 1e-4, "allow_large_alpha": True, "base_model": str(models_dir["base"])})
    job = {
        "version": 1,
        "stage": "dpo",
        "model": str(models_dir["sft"]),
        "output_dir": str(tmp_path / "dpo"),
        "cutoff_len": 96,
        "data": {"train": str(data), "eval_ratio": 0.25},
        "train": {"max_steps": 10, "batch_size": 4, "lr": 5e-3, "scheduler": "constant", "eval_steps": 5},
        "optimizer": optimizer,
        "dpo": {"beta": 0.1, "sft_weight": 0.1, "precompute_ref": opt == "onties"},
    }
    rc, ev, err = run_job(job, tmp_path)
    assert rc == 0, err
    steps = of(ev, "step")
    assert {"rewards_chosen", "rewards_rejected", "reward_accuracy", "reward_margin", "sft_loss"} <= steps[0].keys()
    assert steps[0]["reward_margin"] == pytest.approx(0.0, abs=1e-4)  # policy == reference at step 1
    assert steps[-1]["reward_margin"] > 0.05
    assert steps[-1]["loss"] < steps[0]["loss"]
    evals = of(ev, "eval")
    assert (
        evals[-1]["eval_reward_margin"] > evals[0]["eval_reward_margin"] - 1e-9 and evals[-1]["eval_reward_margin"] > 0
    )
    done = of(ev, "done")[-1]
    assert done["interrupted"] is False
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(done["model"])


def test_dpo_reference_logps_from_records(models_dir, tmp_path):
    """Records carrying ref_chosen_logps/ref_rejected_logps (here in meta) need no reference model; with
    zeros, step 1's rewards are beta times the policy log-probs."""
    recs = [{**r, "meta": {"ref_chosen_logps": 0.0, "ref_rejected_logps": 0.0}} for r in easy_pairs(8)]
    data = write_jsonl(tmp_path / "ref.jsonl", recs)
    job = {
        "version": 1,
        "stage": "dpo",
        "model": str(models_dir["sft"]),
        "output_dir": str(tmp_path / "dpo-ref"),
        "cutoff_len": 96,
        "data": {"train": str(data)},
        "train": {"max_steps": 2, "batch_size": 4, "lr": 1e-3},
        "dpo": {"beta": 0.2, "ref_model": "/nonexistent/never-loaded"},
    }
    rc, ev, err = run_job(job, tmp_path)
    assert rc == 0, err
    s = of(ev, "step")[0]
    assert s["rewards_chosen"] == pytest.approx(0.2 * s["logps_chosen"], rel=1e-5)
    assert s["rewards_rejected"] == pytest.approx(0.2 * s["logps_rejected"], rel=1e-5)


def test_rm_n_models_differ_and_beat_chance(models_dir, tmp_path):
    data = write_jsonl(tmp_path / "easy.jsonl", easy_pairs(24))
    job = {
        "version": 1,
        "stage": "rm",
        "model": str(models_dir["sft"]),
        "output_dir": str(tmp_path / "rm"),
        "cutoff_len": 96,
        "data": {"train": str(data)},
        "train": {"max_steps": 6, "batch_size": 4, "lr": 5e-3, "scheduler": "constant"},
        "rm": {"num_models": 2, "seeds": [1, 2]},
    }
    rc, ev, err = run_job(job, tmp_path)
    assert rc == 0, err
    dones = of(ev, "done")
    assert [d["model_index"] for d in dones] == [0, 1]
    # different seeds give different shuffles: the per-step losses differ
    l0 = [s["loss"] for s in of(ev, "step") if s["model_index"] == 0]
    l1 = [s["loss"] for s in of(ev, "step") if s["model_index"] == 1]
    assert l0 != l1
    # score mode over held-out easy pairs + real pairs
    test = write_jsonl(tmp_path / "test.jsonl", easy_pairs(30)[24:])
    out = tmp_path / "scores.jsonl"
    sjob = {
        "version": 1,
        "stage": "rm",
        "mode": "score",
        "model": str(models_dir["sft"]),
        "output_dir": str(tmp_path / "rm"),
        "cutoff_len": 96,
        "rm": {"models": [d["model"] for d in dones], "input": str(test), "output": str(out)},
    }
    rc, ev2, err = run_job(sjob, tmp_path)
    assert rc == 0, err
    rows = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6 and all(len(r["scores"]["chosen"]) == 2 == len(r["scores"]["rejected"]) for r in rows)
    assert rows[0]["id"] == "e24" and rows[0]["prompt"][0]["role"] == "user"
    for k in range(2):
        acc = sum(r["scores"]["chosen"][k] > r["scores"]["rejected"][k] for r in rows) / len(rows)
        assert acc > 0.5
    assert [r["scores"]["chosen"][0] for r in rows] != [r["scores"]["chosen"][1] for r in rows]


def test_pt_packing_and_mixing(models_dir, data_dir, tmp_path, tokenizer):
    from sfmed_trainer import data as D

    docs = [d["text"] for d in D.load_docs(str(data_dir["docs"]))]
    gen = [d["text"] for d in D.load_docs(str(data_dir["general"]))]
    blocks = D.pack_docs(tokenizer, docs[:10], gen, 0.5, 64, seed=0)
    assert blocks and all(len(b["input_ids"]) == 64 for b in blocks)
    flat = [i for b in blocks for i in b["input_ids"]]
    assert flat.count(tokenizer.eos_token_id) >= 10  # documents end with EOS
    text = tokenizer.decode(flat)
    assert "General text number" in text
    job = {
        "version": 1,
        "stage": "pt",
        "model": str(models_dir["sft"]),
        "output_dir": str(tmp_path / "pt"),
        "cutoff_len": 64,
        "data": {"train": str(data_dir["docs"]), "eval_ratio": 0.1, "max_samples": 40},
        "pt": {"general": str(data_dir["general"]), "general_ratio": 0.2},
        "train": {"max_steps": 6, "batch_size": 4, "lr": 3e-3, "gradient_checkpointing": True},
    }
    rc, ev, err = run_job(job, tmp_path)
    assert rc == 0, err
    done = of(ev, "done")[-1]
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(done["model"])
    start = of(ev, "start")[0]
    assert start["n_train"] > 0
    mix = start["token_mix"]  # general_ratio_unit defaults to tokens
    assert mix["unit"] == "tokens" and mix["target_ratio"] == 0.2 and mix["general_docs"] > 0
    assert mix["general_ratio"] == pytest.approx(
        mix["general_tokens"] / (mix["general_tokens"] + mix["medical_tokens"])
    )


def _pack_docs_by_documents(tok, docs, general, general_ratio, cutoff_len, seed):
    """pack_docs as it was before the token unit (documents only), to pin that mode unchanged."""
    import random

    from sfmed_trainer.data import encode

    rng = random.Random(seed)
    texts = list(docs)
    if general and general_ratio > 0:
        need = round(len(docs) * general_ratio / (1 - general_ratio))
        pool = list(general)
        rng.shuffle(pool)
        texts += [pool[i % len(pool)] for i in range(need)]
    rng.shuffle(texts)
    stream = []
    for t in texts:
        stream += encode(tok, t) + [tok.eos_token_id]
    n = len(stream) // cutoff_len
    return [stream[i * cutoff_len : (i + 1) * cutoff_len] for i in range(n)]


@pytest.mark.parametrize("ratio", [0.1, 0.52, 0.8])
def test_pt_general_mix_by_tokens(data_dir, tokenizer, ratio):
    """unit tokens: general documents are drawn until they are `ratio` of all tokens (the paper: ≈1.4B general
    to ≈1.3B medical, 0.52), within 2 %; the medical documents all stay; the draw follows the seed."""
    from sfmed_trainer import data as D

    docs = [d["text"] for d in D.load_docs(str(data_dir["docs"]))][:30]
    gen = [d["text"] for d in D.load_docs(str(data_dir["general"]))]
    stats: dict = {}
    blocks = D.pack_docs(tokenizer, docs, gen, ratio, 64, seed=3, unit="tokens", stats=stats)
    eos = [tokenizer.eos_token_id]
    med = sum(len(D.encode(tokenizer, t)) + 1 for t in docs)
    assert stats["medical_tokens"] == med and stats["medical_docs"] == len(docs)
    assert abs(stats["general_ratio"] - ratio) <= 0.02, stats
    assert stats["general_ratio"] == stats["general_tokens"] / (stats["general_tokens"] + med)
    assert stats["general_docs"] > len(gen) or ratio < 0.52  # a small corpus is reused
    assert len(blocks) == (stats["medical_tokens"] + stats["general_tokens"]) // 64
    again: dict = {}
    assert D.pack_docs(tokenizer, docs, gen, ratio, 64, seed=3, unit="tokens", stats=again) == blocks and again == stats
    # the general text in the blocks is what the stats count (up to the dropped tail)
    flat = [i for b in blocks for i in b["input_ids"]]
    assert flat.count(eos[0]) >= len(docs) + stats["general_docs"] - 1
    assert D.pack_docs(tokenizer, docs, gen, ratio, 64, seed=4, unit="tokens") != blocks


def test_pt_general_mix_by_documents_is_unchanged(data_dir, tokenizer):
    from sfmed_trainer import data as D

    docs = [d["text"] for d in D.load_docs(str(data_dir["docs"]))][:30]
    gen = [d["text"] for d in D.load_docs(str(data_dir["general"]))]
    for ratio, seed in ((0.1, 0), (0.5, 7), (0.0, 1)):
        stats: dict = {}
        blocks = D.pack_docs(tokenizer, docs, gen, ratio, 64, seed, unit="documents", stats=stats)
        assert [b["input_ids"] for b in blocks] == _pack_docs_by_documents(tokenizer, docs, gen, ratio, 64, seed)
        assert stats["general_docs"] == round(len(docs) * ratio / (1 - ratio))
