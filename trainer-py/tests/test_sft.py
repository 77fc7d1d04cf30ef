import random

from conftest import of, run_job

from sfmed_trainer import data as D

WORDS = ["发热", "咳嗽", "doctor", "fever", " ", "头痛", "3天", "吃药", "hello", "\n", "？", "ok", "<", "|"]


def random_dialogue(rng: random.Random) -> list[dict]:
    msgs = []
    if rng.random() < 0.4:
        msgs.append({"role": "system", "content": "".join(rng.choices(WORDS, k=rng.randint(0, 6)))})
    for _ in range(rng.randint(1, 4)):
        msgs.append({"role": "user", "content": "".join(rng.choices(WORDS, k=rng.randint(0, 12)))})
        msgs.append({"role": "assistant", "content": "".join(rng.choices(WORDS, k=rng.randint(0, 12)))})
    return msgs


def test_only_assistant_tokens_carry_loss(tokenizer):
    """Property over random multi-turn dialogues: the labelled tokens decode to exactly the kept assistant
    turns (content + end-of-turn), in order; every user/system content lies in unlabelled tokens."""
    rng = random.Random(1234)
    for _ in range(150):
        msgs = random_dialogue(rng)
        cutoff = rng.choice([10_000, 60, 25])
        enc = D.encode_dialogue(tokenizer, msgs, cutoff)
        ids, labels = enc["input_ids"], enc["labels"]
        assert len(ids) == len(labels) <= cutoff
        head = 1 if msgs[0]["role"] == "system" else 0
        kept = msgs[:head] + msgs[head + enc["dropped_turns"] :]
        assert all(l == D.IGNORE or l == i for i, l in zip(ids, labels))
        labelled = tokenizer.decode([i for i, l in zip(ids, labels) if l != D.IGNORE])
        expected = "".join(m["content"] + "<|im_end|>\n" for m in kept if m["role"] == "assistant")
        if cutoff == 10_000:
            assert enc["dropped_turns"] == 0
            assert labelled == expected
            # the full sequence is the template rendering; unlabelled runs hold everything else
            assert tokenizer.decode(ids) == D.render(tokenizer, msgs)
        else:
            # the kept turns, untruncated, label exactly their assistant turns; the cut is a prefix of that
            full = D.encode_dialogue(tokenizer, kept, 10**6)
            assert tokenizer.decode([i for i, l in zip(full["input_ids"], full["labels"]) if l != D.IGNORE]) == expected
            assert full["input_ids"][: len(ids)] == ids and full["labels"][: len(labels)] == labels
            # truncation drops whole oldest pairs first
            assert enc["dropped_turns"] % 2 == 0


def test_sft_end_to_end(models_dir, data_dir, tmp_path):
    out = tmp_path / "sft-out"
    job = {
        "version": 1,
        "stage": "sft",
        "model": str(models_dir["sft"]),
        "output_dir": str(out),
        "cutoff_len": 96,
        "data": {"train": str(data_dir["sft"]), "eval_ratio": 0.1},
        "train": {"max_steps": 24, "batch_size": 4, "lr": 3e-3, "warmup_steps": 2, "dropout": 0.1, "eval_steps": 8},
    }
    rc, ev, err = run_job(job, tmp_path)
    assert rc == 0, err
    steps = of(ev, "step")
    assert steps and steps[0]["v"] == 1 and {"loss", "lr", "grad_norm", "tokens_per_s", "epoch"} <= steps[0].keys()
    first = sum(s["loss"] for s in steps[:3]) / 3
    last = sum(s["loss"] for s in steps[-3:]) / 3
    assert last < first - 0.3, (first, last)
    evals = of(ev, "eval")
    assert evals and evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    done = of(ev, "done")[-1]
    assert done["interrupted"] is False and done["model"].endswith("best")
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(done["final_model"])
    assert m.config.attention_dropout == 0.1


def test_default_system_prompt_and_truncation_keeps_it(tokenizer):
    msgs = [
        {"role": "user", "content": "first question " * 5},
        {"role": "assistant", "content": "first answer " * 5},
        {"role": "user", "content": "second?"},
        {"role": "assistant", "content": "second."},
    ]
    full = D.encode_dialogue(tokenizer, msgs, 10_000, system="You are a doctor.")
    assert tokenizer.decode(full["input_ids"]).startswith("<|im_start|>system\nYou are a doctor.<|im_end|>")
    short = D.encode_dialogue(tokenizer, msgs, len(full["input_ids"]) - 5, system="You are a doctor.")
    text = tokenizer.decode(short["input_ids"])
    assert (
        short["dropped_turns"] == 2 and text.startswith("<|im_start|>system\nYou are a doctor.") and "first" not in text
    )
    # a dialogue with its own system message keeps it
    own = D.encode_dialogue(tokenizer, [{"role": "system", "content": "Own."}, *msgs], 10_000, system="ignored")
    assert "ignored" not in tokenizer.decode(own["input_ids"])


def test_tiny_model_cli(tmp_path, data_dir):
    import json
    import os
    import subprocess
    import sys

    from conftest import TRAINER

    out = tmp_path / "tiny"
    env = {**os.environ, "PYTHONPATH": str(TRAINER), "OMP_NUM_THREADS": "1"}
    cp = subprocess.run(
        [
            sys.executable,
            "-m",
            "sfmed_trainer.tiny",
            str(out),
            "--corpus",
            str(data_dir["sft"]),
            str(data_dir["pairs"]),
            "--vocab-size",
            "400",
            "--hidden",
            "32",
            "--layers",
            "1",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert cp.returncode == 0, cp.stderr
    done = json.loads(cp.stdout.splitlines()[-1])
    assert done["event"] == "done" and done["model"] == str(out) and done["layers"] == 1
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    m = AutoModelForCausalLM.from_pretrained(out)
    assert m.config.hidden_size == 32 and m.config.num_hidden_layers == 1 and len(tok) == m.config.vocab_size <= 400
    assert tok.pad_token_id != tok.eos_token_id and tok.eos_token == "<|im_end|>"
    text = D.render(tok, [{"role": "user", "content": "发热"}], True)
    assert text == "<|im_start|>user\n发热<|im_end|>\n<|im_start|>assistant\n"
    # no corpus text: an error event and exit 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{}\n", encoding="utf-8")
    cp = subprocess.run(
        [sys.executable, "-m", "sfmed_trainer.tiny", str(tmp_path / "x"), "--corpus", str(empty)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert cp.returncode == 1 and json.loads(cp.stdout.splitlines()[-1])["event"] == "error"
