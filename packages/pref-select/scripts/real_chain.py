"""Real chain, Python half: tiny Qwen2 reward models trained by trainer-py on the MedicalGPT reward sample.

Builds a byte-level BPE + a tiny Qwen2 (the trainer's test recipe), converts data/samples/medicalgpt/test.json to
PreferencePair JSONL, trains N reward models with different seeds (`rm` stage, one job) and scores every pair
with all of them (`rm` score mode). Run with the trainer's venv Python; see real-chain.sh.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TRAINER = ROOT / "trainer-py"
SAMPLE = ROOT / "data" / "samples" / "medicalgpt" / "test.json"
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def pairs_from_sample(limit: int) -> list[dict]:
    rows = [json.loads(l) for l in SAMPLE.read_text(encoding="utf-8").splitlines() if l.strip()]
    return [{"id": f"mgpt-{i}", "source": "medicalgpt/test.json", "prompt": [{"role": "user", "content": r["question"]}],
             "chosen": r["response_chosen"], "rejected": r["response_rejected"]} for i, r in enumerate(rows[:limit])]


def build_base(out: Path, corpus: list[str]) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainer=trainers.BpeTrainer(
        vocab_size=512, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=CHATML)
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=True, rope_theta=10000.0, bos_token_id=None,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    fast.save_pretrained(out)


def run(job: dict, path: Path) -> list[dict]:
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(TRAINER), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    cp = subprocess.run([sys.executable, "-m", "sfmed_trainer", "run", str(path)], capture_output=True, text=True, env=env)
    events = [json.loads(l) for l in cp.stdout.splitlines() if l.strip().startswith("{")]
    if cp.returncode != 0:
        sys.stderr.write(cp.stderr[-4000:])
        raise SystemExit(f"trainer job {path} failed with exit code {cp.returncode}")
    return events


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    out: Path = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    pairs = pairs_from_sample(a.pairs)
    data = out / "pairs.jsonl"
    data.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    base = out / "base"
    if not (base / "config.json").exists():
        build_base(base, [p["prompt"][0]["content"] + p["chosen"] + p["rejected"] for p in pairs])
    t1 = time.time()
    train = run({"version": 1, "stage": "rm", "model": str(base), "output_dir": str(out / "rm"), "cutoff_len": 256, "device": "cpu",
                 "data": {"train": str(data)},
                 "train": {"epochs": a.epochs, "batch_size": 4, "lr": 3e-3, "scheduler": "constant", "seed": 0},
                 "rm": {"num_models": len(a.seeds), "seeds": a.seeds}}, out / "rm-train.json")
    models = [e["model"] for e in train if e.get("event") == "done" and "model" in e]
    if len(models) != len(a.seeds):
        models = [str(out / "rm" / f"model-{i}" / "final") for i in range(len(a.seeds))]
    t2 = time.time()
    run({"version": 1, "stage": "rm", "mode": "score", "model": str(base), "output_dir": str(out / "rm"), "cutoff_len": 256, "device": "cpu",
         "rm": {"models": models, "input": str(data), "output": str(out / "trainer-scores.jsonl")}}, out / "rm-score.json")
    t3 = time.time()
    json.dump({"pairs": len(pairs), "models": models, "seconds": {"tiny_model": round(t1 - t0, 1), "rm_train": round(t2 - t1, 1), "rm_score": round(t3 - t2, 1)}},
              open(out / "python-chain.json", "w"), indent=2)
    print(out / "trainer-scores.jsonl")


if __name__ == "__main__":
    main()
