"""Build a tiny Qwen2 checkpoint (byte-level BPE trained on your corpus + a 2-layer model from config) for examples
and tests that must run on a CPU in seconds: `python -m sfmed_trainer.tiny OUT --corpus FILE [FILE ...]`.

The corpus is any JSONL/JSON of sfmed records: every string value in a record feeds the tokenizer. The model has
random weights; pt and sft then make it (a little) fluent in the corpus. Prints one `done` event.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Iterator

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _strings(v: Any) -> Iterator[str]:
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from _strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)


def read_corpus(paths: list[str], limit_chars: int) -> list[str]:
    out: list[str] = []
    total = 0
    for p in paths:
        with open(p, encoding="utf-8") as f:
            text = f.read()
        s = text.lstrip()
        rows = json.loads(s) if s.startswith("[") else [json.loads(l) for l in text.splitlines() if l.strip()]
        for r in rows:
            for t in _strings(r):
                out.append(t)
                total += len(t)
                if total >= limit_chars:
                    return out
    return out


def build(out_dir: str, corpus: list[str], vocab_size: int, hidden: int, layers: int, seed: int) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus or ["sfmed"], trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=CHATML)
    torch.manual_seed(seed)
    heads = max(2, hidden // 16)
    cfg = Qwen2Config(vocab_size=len(fast), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), max_position_embeddings=2048,
                      tie_word_embeddings=True, rope_theta=10000.0, bos_token_id=None,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    model = Qwen2ForCausalLM(cfg)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    fast.save_pretrained(out_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sfmed_trainer.tiny", description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--corpus", nargs="+", required=True, help="JSONL/JSON files whose strings train the tokenizer")
    ap.add_argument("--vocab-size", type=int, default=1024)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-chars", type=int, default=2_000_000, help="corpus characters used for the tokenizer")
    a = ap.parse_args(argv)
    try:
        corpus = read_corpus(a.corpus, a.max_chars)
        build(a.out, corpus, a.vocab_size, a.hidden, a.layers, a.seed)
    except Exception as e:  # one event, one exit code
        sys.stdout.write(json.dumps({"v": 1, "event": "error", "type": type(e).__name__, "message": str(e)}) + "\n")
        return 1
    sys.stdout.write(json.dumps({"v": 1, "event": "done", "interrupted": False, "output_dir": os.path.abspath(a.out),
                                 "metrics": {"corpus_strings": len(corpus)}}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
