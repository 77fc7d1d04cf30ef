"""Build a tiny Qwen2 checkpoint for tests and examples: a byte-level BPE tokenizer trained on the strings
of record files, a ChatML chat template, random weights.

    python -m sfmed_trainer.tiny OUT --corpus FILE... [--vocab-size 1024] [--hidden 64] [--layers 2] [--seed 0]

Corpus files are JSONL (one record per line) or JSON; every string value in them is training text. Prints
`{"v":1,"event":"done","model":OUT,...}` on stdout (or an `error` event and exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Iterable, Iterator

from .events import Events, log

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def strings(v: Any) -> Iterator[str]:
    if isinstance(v, str):
        if v:
            yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)


def corpus_from_files(paths: Iterable[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            text = f.read()
        try:
            out.extend(strings(json.loads(text)))
            continue
        except json.JSONDecodeError:
            pass
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.extend(strings(json.loads(line)))
            except json.JSONDecodeError:
                out.append(line)  # plain text lines are text too
    return out


def sharegpt_dialogues(path: str, limit: int, prefix: str = "sft") -> list[dict]:
    """The first `limit` ShareGPT records ({conversations: [{from, value}]}, JSONL) of `path` as Dialogue
    records {id, messages}: small training sets for tests and checks, from the bundled samples."""
    role = {"human": "user", "gpt": "assistant", "system": "system"}
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if len(out) >= limit:
                break
            rec = json.loads(line)
            out.append(
                {
                    "id": f"{prefix}-{i}",
                    "messages": [{"role": role[c["from"]], "content": c["value"]} for c in rec["conversations"]],
                }
            )
    return out


def reward_pairs(path: str, limit: int, prefix: str = "pair") -> list[dict]:
    """The first `limit` reward-model rows ({question, response_chosen, response_rejected}, a JSON array or
    JSONL) of `path` as PreferencePair records."""
    with open(path, encoding="utf-8") as f:
        txt = f.read().strip()
    rows = json.loads(txt) if txt.startswith("[") else [json.loads(l) for l in txt.splitlines() if l.strip()]
    return [
        {
            "id": f"{prefix}-{i}",
            "prompt": [{"role": "user", "content": r["question"]}],
            "chosen": r["response_chosen"],
            "rejected": r["response_rejected"],
        }
        for i, r in enumerate(rows[:limit])
    ]


def build_tokenizer(corpus: list[str], vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    # pad (<|endoftext|>) differs from eos (<|im_end|>), as in Qwen chat models: label masking and reward
    # pooling by pad id then never touch the end-of-turn token.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        chat_template=CHATML,
    )


def build_model(tok, hidden: int = 64, layers: int = 2, seed: int = 0, max_positions: int = 4096):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    heads = max(1, hidden // 16)
    while hidden % heads:
        heads -= 1
    kv = heads // 2 if heads % 2 == 0 else heads
    torch.manual_seed(seed)
    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        rope_theta=10000.0,
        bos_token_id=None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return Qwen2ForCausalLM(cfg)


def create(
    out: str, corpus: list[str], vocab_size: int = 1024, hidden: int = 64, layers: int = 2, seed: int = 0
) -> dict:
    if not corpus:
        raise ValueError("corpus: no text found")
    tok = build_tokenizer(corpus, vocab_size)
    model = build_model(tok, hidden, layers, seed)
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return {
        "model": os.path.abspath(out),
        "vocab_size": len(tok),
        "hidden": hidden,
        "layers": layers,
        "params": sum(p.numel() for p in model.parameters()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sfmed_trainer.tiny")
    ap.add_argument("out")
    ap.add_argument("--corpus", nargs="+", required=True)
    ap.add_argument("--vocab-size", type=int, default=1024)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    ev = Events()
    try:
        res = create(a.out, corpus_from_files(a.corpus), a.vocab_size, a.hidden, a.layers, a.seed)
    except Exception as e:  # noqa: BLE001 - reported as an event
        ev.error(e)
        log(f"error: {type(e).__name__}: {e}")
        return 1
    ev.emit("done", **res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
