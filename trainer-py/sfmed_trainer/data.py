"""Reading record JSONL (the shapes of @sfmed/schema records) and turning records into token ids.

Token ids are built segment by segment: every message is rendered through the chat template, the text it
adds to the prefix is encoded on its own, and the ids are concatenated. This keeps label boundaries exact
(a BPE merge can never straddle a prompt/response boundary) and works with any template whose rendering of a
prefix of the conversation is a prefix of the full rendering (ChatML/Qwen, Llama-3, ...).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Iterator

IGNORE = -100


class DataError(ValueError):
    def __init__(self, file: str, line: int, field: str, message: str):
        self.file, self.line, self.field = file, line, field
        super().__init__(f"{file}:{line}: {field}: {message}")


def read_jsonl(path: str, limit: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        n = 0
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(path, i, "<json>", e.msg) from e
            if not isinstance(rec, dict):
                raise DataError(path, i, "<record>", "expected a JSON object")
            yield i, rec
            n += 1
            if limit is not None and n >= limit:
                return


def _messages(path: str, line: int, field: str, v: Any) -> list[dict[str, str]]:
    if not isinstance(v, list) or not v:
        raise DataError(path, line, field, "expected a non-empty array of {role, content}")
    out = []
    for j, m in enumerate(v):
        if (
            not isinstance(m, dict)
            or m.get("role") not in ("system", "user", "assistant")
            or not isinstance(m.get("content"), str)
        ):
            raise DataError(path, line, f"{field}[{j}]", "expected {role: system|user|assistant, content: string}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def load_dialogues(path: str, limit: int | None = None) -> list[dict[str, Any]]:
    out = []
    for i, rec in read_jsonl(path, limit):
        msgs = _messages(path, i, "messages", rec.get("messages"))
        start = 1 if msgs[0]["role"] == "system" else 0
        for k in range(start, len(msgs)):
            want = "user" if (k - start) % 2 == 0 else "assistant"
            if msgs[k]["role"] != want:
                raise DataError(path, i, f"messages[{k}].role", f"expected {want!r} (turns alternate user/assistant)")
        if len(msgs) - start < 2:
            raise DataError(path, i, "messages", "a dialogue needs at least a user and an assistant message")
        out.append({"id": str(rec.get("id", i)), "messages": msgs})
    return out


def load_pairs(path: str, limit: int | None = None) -> list[dict[str, Any]]:
    out = []
    for i, rec in read_jsonl(path, limit):
        prompt = _messages(path, i, "prompt", rec.get("prompt"))
        for k in ("chosen", "rejected"):
            if not isinstance(rec.get(k), str):
                raise DataError(path, i, k, "expected a string")
        m = rec.get("margin")
        if m is not None and not isinstance(m, (int, float)):
            raise DataError(path, i, "margin", "expected a number")
        out.append({**rec, "id": str(rec.get("id", i)), "prompt": prompt})
    return out


def record_ref_logps(rec: dict[str, Any]) -> tuple[float, float] | None:
    """Precomputed reference log-probs of a pair (summed over response tokens), from `ref_chosen_logps` /
    `ref_rejected_logps` at the top level or in `meta`; None when absent."""
    for src in (rec, rec.get("meta") or {}):
        c, r = src.get("ref_chosen_logps"), src.get("ref_rejected_logps")
        if isinstance(c, (int, float)) and isinstance(r, (int, float)):
            return float(c), float(r)
    return None


def load_docs(path: str, limit: int | None = None) -> list[dict[str, Any]]:
    out = []
    for i, rec in read_jsonl(path, limit):
        if not isinstance(rec.get("text"), str):
            raise DataError(path, i, "text", "expected a string")
        out.append({"id": str(rec.get("id", i)), "text": rec["text"]})
    return out


# ------------------------------------------------------------------------------------------------- tokenising


def render(tok, messages: list[dict[str, str]], generation_prompt: bool = False) -> str:
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def encode(tok, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"]) if text else []


def _suffix(prev: str, full: str, what: str) -> str:
    if not full.startswith(prev):
        raise ValueError(f"chat template is not prefix-stable at {what}; cannot locate assistant tokens")
    return full[len(prev) :]


def dialogue_segments(tok, messages: list[dict[str, str]]) -> list[tuple[list[int], bool]]:
    """[(ids, trainable)]: each assistant message's content and end tokens are trainable; the assistant
    header and every system/user token are not."""
    segs: list[tuple[list[int], bool]] = []
    prev = ""
    for k, m in enumerate(messages):
        if m["role"] == "assistant":
            head = render(tok, messages[:k], True)
            full = render(tok, messages[: k + 1])
            segs.append((encode(tok, _suffix(prev, head, f"message {k} header")), False))
            segs.append((encode(tok, _suffix(head, full, f"message {k}")), True))
        else:
            full = render(tok, messages[: k + 1])
            segs.append((encode(tok, _suffix(prev, full, f"message {k}")), False))
        prev = full
    return segs


def with_system(messages: list[dict[str, str]], system: str | None) -> list[dict[str, str]]:
    if system is not None and (not messages or messages[0]["role"] != "system"):
        return [{"role": "system", "content": system}, *messages]
    return messages


def encode_dialogue(tok, messages: list[dict[str, str]], cutoff_len: int, system: str | None = None) -> dict[str, Any]:
    """input_ids/labels for SFT. Oldest user/assistant pairs are dropped until the dialogue fits; if the last
    pair alone is too long it is cut at cutoff_len."""
    messages = with_system(messages, system)
    head = messages[:1] if messages[0]["role"] == "system" else []
    turns = messages[len(head) :]
    drop = 0
    while True:
        segs = dialogue_segments(tok, head + turns[drop:])
        total = sum(len(s) for s, _ in segs)
        if total <= cutoff_len or len(turns) - drop <= 2:
            break
        drop += 2
    ids: list[int] = []
    labels: list[int] = []
    for s, train in segs:
        ids += s
        labels += s if train else [IGNORE] * len(s)
    return {"input_ids": ids[:cutoff_len], "labels": labels[:cutoff_len], "dropped_turns": drop}


def encode_pair(
    tok, prompt: list[dict[str, str]], responses: list[str], cutoff_len: int, system: str | None = None
) -> dict[str, Any]:
    """Prompt ids plus one id list per response (each ending with the template's end-of-turn tokens).
    Over-long examples keep the end of the prompt and the start of each response."""
    prompt = with_system(prompt, system)
    head_text = render(tok, prompt, True)
    p_ids = encode(tok, head_text)
    r_ids = [
        encode(tok, _suffix(head_text, render(tok, prompt + [{"role": "assistant", "content": r}]), "response"))
        for r in responses
    ]
    longest = max(len(r) for r in r_ids)
    if len(p_ids) + longest > cutoff_len:
        r_budget = max(cutoff_len - len(p_ids), cutoff_len // 2)
        r_ids = [r[:r_budget] for r in r_ids]
        p_budget = cutoff_len - max(len(r) for r in r_ids)
        p_ids = p_ids[-p_budget:] if p_budget > 0 else []
    return {"prompt_ids": p_ids, "response_ids": r_ids}


def pack_docs(
    tok,
    docs: list[str],
    general: list[str],
    general_ratio: float,
    cutoff_len: int,
    seed: int,
    unit: str = "documents",
    stats: dict | None = None,
) -> list[dict[str, Any]]:
    """Concatenate documents (each followed by EOS) and cut into blocks of cutoff_len (the tail is dropped).

    With a general corpus and `general_ratio` > 0, general documents are drawn from a seeded shuffle of it
    (reshuffled and reused when it runs out) and shuffled in with the domain ones:
    - unit "tokens": until the general documents make up `general_ratio` of all tokens (EOS included), the
      last draw kept only when it brings the share closer to the target (the paper adds ≈1.4B general to
      ≈1.3B medical tokens);
    - unit "documents": round(n·r/(1−r)) general documents, so they are `general_ratio` of the documents.
    `stats`, when given, receives the mix before cutting: medical_tokens, general_tokens, general_ratio (the
    achieved token share), medical_docs, general_docs, target_ratio, unit."""
    if unit not in ("tokens", "documents"):
        raise ValueError(f"unit must be tokens or documents, got {unit!r}")
    rng = random.Random(seed)
    eos = tok.eos_token_id
    tail = [eos] if eos is not None else []
    encoded = [encode(tok, t) + tail for t in docs]
    med_tokens = sum(len(e) for e in encoded)
    gen_tokens = 0
    n_gen = 0
    if general and general_ratio > 0:
        if unit == "documents":
            need = round(len(docs) * general_ratio / (1 - general_ratio))
            picked = _general_documents(tok, general, need, rng, tail)
        else:
            target = general_ratio / (1 - general_ratio) * med_tokens  # general tokens for the wanted share
            picked = _general_tokens(tok, general, target, rng, tail)
        encoded += picked
        gen_tokens, n_gen = sum(len(e) for e in picked), len(picked)
    rng.shuffle(encoded)
    if stats is not None:
        total = med_tokens + gen_tokens
        stats.update(
            {
                "unit": unit,
                "target_ratio": general_ratio if general else 0.0,
                "medical_tokens": med_tokens,
                "general_tokens": gen_tokens,
                "general_ratio": gen_tokens / total if total else 0.0,
                "medical_docs": len(docs),
                "general_docs": n_gen,
            }
        )
    stream: list[int] = []
    for e in encoded:
        stream += e
    n = len(stream) // cutoff_len
    return [
        {
            "input_ids": stream[i * cutoff_len : (i + 1) * cutoff_len],
            "labels": stream[i * cutoff_len : (i + 1) * cutoff_len],
        }
        for i in range(n)
    ]


def _general_documents(tok, general: list[str], need: int, rng: random.Random, tail: list[int]) -> list[list[int]]:
    """`need` general documents from a seeded shuffle of the corpus, cycled when it runs out."""
    order = list(range(len(general)))
    rng.shuffle(order)
    cache: dict[int, list[int]] = {}
    out = []
    for i in (order[n % len(order)] for n in range(need)):
        if i not in cache:
            cache[i] = encode(tok, general[i]) + tail
        out.append(cache[i])
    return out


def _general_tokens(tok, general: list[str], target: float, rng: random.Random, tail: list[int]) -> list[list[int]]:
    """General documents drawn from seeded shuffles of the corpus until they hold about `target` tokens; the
    document that crosses the target is kept only when it lands closer to it than stopping."""
    pool: list[int] = []
    cache: dict[int, list[int]] = {}
    out: list[list[int]] = []
    gen_tokens, empty_run = 0, 0
    while gen_tokens < target:
        if not pool:
            pool.extend(range(len(general)))
            rng.shuffle(pool)
            pool.reverse()  # pop() from the end walks the shuffled order
        i = pool.pop()
        if i not in cache:
            cache[i] = encode(tok, general[i]) + tail
        ids = cache[i]
        if not ids:
            empty_run += 1
            if empty_run > len(general):
                break  # a corpus of empty documents never reaches the target
            continue
        empty_run = 0
        over = gen_tokens + len(ids) - target
        if over > 0 and over > (target - gen_tokens) and out:
            break
        out.append(ids)
        gen_tokens += len(ids)
    return out


# ------------------------------------------------------------------------------------------------- batching


@dataclass
class Padded:
    input_ids: Any
    attention_mask: Any
    labels: Any | None


def pad_batch(seqs: list[list[int]], pad_id: int, labels: list[list[int]] | None = None) -> Padded:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    att = torch.zeros((len(seqs), width), dtype=torch.long)
    lab = torch.full((len(seqs), width), IGNORE, dtype=torch.long) if labels is not None else None
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        att[i, : len(s)] = 1
        if lab is not None:
            lab[i, : len(s)] = torch.tensor(labels[i], dtype=torch.long)
    return Padded(ids, att, lab)


def pair_batch(examples: list[dict[str, Any]], pad_id: int) -> Padded:
    """Preference pairs as one padded batch: the chosen block (prompt + response 0) then the rejected block
    (prompt + response 1); labels cover the responses only."""
    seqs, labels = [], []
    for which in (0, 1):
        for e in examples:
            r = e["response_ids"][which]
            seqs.append(e["prompt_ids"] + r)
            labels.append([IGNORE] * len(e["prompt_ids"]) + r)
    return pad_batch(seqs, pad_id, labels)
