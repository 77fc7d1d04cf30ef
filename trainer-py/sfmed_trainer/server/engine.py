"""The model behind the server: a causal LM or a reward model loaded from a checkpoint (model_io), optionally
with a gate on a decoder layer; generation, prompt log-probs, embeddings and scores."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable, Iterator

import torch

from .. import data as D
from ..gate import Gate, GateError, decoder_layers, layer_module
from ..model_io import is_reward_checkpoint, load_causal, load_reward, load_tokenizer
from .api import ApiError, ClientGone, Limits, Sampling
from .scheduler import Scheduler


class _Captured(Exception):
    pass


class Engine:
    def __init__(
        self,
        checkpoint: str,
        gate: str | None = None,
        name: str | None = None,
        device: str | None = None,
        limits: Limits | None = None,
    ):
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(checkpoint)
        self.kind = "reward" if is_reward_checkpoint(cfg) else "causal"
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tok = load_tokenizer(checkpoint)
        load = load_reward if self.kind == "reward" else load_causal
        kw = {"pad_id": self.tok.pad_token_id} if self.kind == "reward" else {}
        self.model = load(checkpoint, None, self.device, **kw).eval()
        self.name = name or os.path.basename(os.path.normpath(checkpoint))
        _, layers = decoder_layers(self.model)
        self.num_layers = len(layers)
        self.hidden_size = self.model.config.hidden_size
        ctx = getattr(self.model.config, "max_position_embeddings", None)
        self.context_length: int | None = ctx if isinstance(ctx, int) and ctx > 0 else None
        self.limits = limits or Limits()
        self.sched = Scheduler(self.limits.max_queue, self.limits.max_queue_wait)
        self.tok_lock = threading.Lock()  # requests tokenize before they queue; keep the tokenizer to one thread
        self.gate: Gate | None = None
        if gate:
            self.gate = Gate.load(gate, self.hidden_size, self.num_layers)
            self.gate.attach(self.model)
        self.stop_ids = {i for i in (self.tok.eos_token_id, self.tok.pad_token_id) if i is not None}

    # ------------------------------------------------------------------------------------------- helpers

    def _reset(self):
        if self.gate:
            self.gate.reset()

    def encode(self, text: str) -> list[int]:
        with self.tok_lock:
            return D.encode(self.tok, text)

    def render(self, messages: list[dict[str, str]]) -> str:
        with self.tok_lock:
            return D.render(self.tok, messages, True)

    def check_model(self, body: dict):
        m = body.get("model")
        if m is None or m == "":
            if self.limits.require_model:
                raise ApiError(400, "you must provide a model parameter", "model", "missing_required_parameter")
            return
        if not isinstance(m, str):
            raise ApiError(400, f"model must be a string, got {json.dumps(m)}", "model", "invalid_type")
        if m != self.name:
            raise ApiError(404, f"model {m!r} not found (this server serves {self.name!r})", "model", "model_not_found")

    def need(self, kind: str):
        if self.kind != kind:
            raise ApiError(400, f"this endpoint needs a {kind} checkpoint; {self.name!r} is a {self.kind} model")

    def check_context(self, n_prompt: int, max_tokens: int, param: str):
        """Refuse what the model cannot attend over (its config's max_position_embeddings)."""
        ctx = self.context_length
        if ctx is not None and n_prompt + max_tokens > ctx:
            what = (
                f"{n_prompt} prompt tokens + max_tokens {max_tokens} = {n_prompt + max_tokens}"
                if max_tokens
                else f"{n_prompt} tokens"
            )
            raise ApiError(
                400,
                f"this model's maximum context length is {ctx} tokens; the request has {what}",
                param,
                "context_length_exceeded",
            )

    # ------------------------------------------------------------------------------------------- generation

    @torch.no_grad()
    def generate(
        self,
        ids: list[int],
        max_tokens: int,
        temperature: float,
        top_p: float,
        seed: int | None,
        top_k_logprobs: int | None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yields {"id", "logprob", "top": [(id, lp)...]} per token; ends on a stop token (not yielded
        as text: its dict has "stop": True) or after max_tokens. Raises ClientGone when `cancelled()` turns
        true (checked before every forward)."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4), "little"))
        self._reset()
        past = None
        inp = torch.tensor([ids], dtype=torch.long, device=self.device)
        for _ in range(max_tokens):
            if cancelled is not None and cancelled():
                raise ClientGone
            out = self.model(input_ids=inp, past_key_values=past, use_cache=True)
            past = out.past_key_values
            logits = out.logits[0, -1].float()
            lp = torch.log_softmax(logits, -1)
            if temperature <= 0:
                nxt = int(torch.argmax(logits))
            else:
                probs = torch.softmax(logits / temperature, -1)
                if top_p < 1:
                    sp, si = torch.sort(probs, descending=True)
                    keep = torch.cumsum(sp, 0) - sp < top_p
                    probs = torch.zeros_like(probs).scatter_(0, si[keep], sp[keep])
                nxt = int(torch.multinomial(probs, 1, generator=gen))
            rec = {"id": nxt, "logprob": float(lp[nxt]), "stop": nxt in self.stop_ids}
            if top_k_logprobs:
                v, i = torch.topk(lp, min(top_k_logprobs, lp.numel()))
                rec["top"] = list(zip(i.tolist(), v.tolist()))
            yield rec
            if rec["stop"]:
                return
            inp = torch.tensor([[nxt]], dtype=torch.long, device=self.device)

    def stream_text(
        self,
        ids: list[int],
        s: Sampling,
        top_k_logprobs: int | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Iterator[tuple[str, dict | None, str | None]]:
        """Yields (text_delta, token_record, finish_reason). Text that could be the start of a stop string is
        held back until the next tokens show whether it is one, so a stop string split over tokens never leaks."""
        out_ids: list[int] = []
        emitted = text = ""
        finish = "length"
        for rec in self.generate(ids, s.max_tokens, s.temperature, s.top_p, s.seed, top_k_logprobs, cancelled):
            if rec["stop"]:
                finish = "stop"
                break
            out_ids.append(rec["id"])
            text = self.tok.decode(out_ids, skip_special_tokens=False)
            hit = next((x for x in s.stop if x and x in text), None)
            if hit:
                text = text[: text.index(hit)]
                finish = "stop"
            if text.endswith("\ufffd") and not hit:
                yield "", rec, None  # incomplete UTF-8 sequence: wait for the next token
                continue
            hold = 0 if hit else max((k for x in s.stop for k in range(1, len(x)) if text.endswith(x[:k])), default=0)
            safe = text[: len(text) - hold]
            delta = safe[len(emitted) :] if safe.startswith(emitted) else ""
            emitted = safe
            yield delta, rec, None
            if hit:
                break
        rest = text[len(emitted) :] if text.startswith(emitted) and not text.endswith("\ufffd") else ""
        if rest:  # held back for a stop string that did not come
            yield rest, None, None
        yield "", None, finish

    def prompt_pieces(self, prompt: str, ids: list[int]) -> list[str]:
        """The prompt's text cut at its token boundaries, one piece per id, joining back to the prompt exactly:
        from the tokenizer's character offsets, so a character split over several byte-level tokens goes to
        the first of them and the others get "" (decoding such a token alone gives U+FFFD). Without offsets
        (a slow tokenizer), each token decoded alone."""
        try:
            with self.tok_lock:
                enc = self.tok(prompt, add_special_tokens=False, return_offsets_mapping=True)
            spans = enc["offset_mapping"]
            if list(enc["input_ids"]) != ids:
                raise ValueError("ids differ")
        except (NotImplementedError, ValueError, KeyError):
            return [self.tok.decode([i]) for i in ids]
        pieces, cursor = [], 0
        for _, end in spans:
            end = max(cursor, min(end, len(prompt)))
            pieces.append(prompt[cursor:end])  # any gap before the token's span goes with it
            cursor = end
        if pieces and cursor < len(prompt):
            pieces[-1] += prompt[cursor:]
        return pieces

    @torch.no_grad()
    def prompt_logprobs(self, ids: list[int], top_k: int | None) -> list[dict[str, Any]]:
        """One forward pass over the prompt: per token {"id", "logprob", "top"} with log p(token | the tokens
        before it); the first token has no context, so its logprob and top are None (as OpenAI's echo)."""
        self._reset()
        logits = self.model(input_ids=torch.tensor([ids], dtype=torch.long, device=self.device)).logits[0].float()
        lp = torch.log_softmax(logits[:-1], -1)
        out: list[dict[str, Any]] = [{"id": ids[0], "logprob": None, "top": None}]
        picked = (
            lp.gather(1, torch.tensor(ids[1:], device=lp.device).unsqueeze(1)).squeeze(1).tolist()
            if len(ids) > 1
            else []
        )
        tops = None
        if top_k and len(ids) > 1:
            v, i = torch.topk(lp, min(top_k, lp.shape[-1]), dim=-1)
            tops = [list(zip(a, b)) for a, b in zip(i.tolist(), v.tolist())]
        for j, tid in enumerate(ids[1:]):
            out.append({"id": tid, "logprob": picked[j], "top": tops[j] if tops is not None else None})
        return out

    # ------------------------------------------------------------------------------------------- others

    @torch.no_grad()
    def embed(self, ids: list[int], layer: int, pooling: str) -> list[float]:
        try:
            mod, _ = layer_module(self.model, layer)
        except GateError as e:
            raise ApiError(400, str(e), "layer") from e
        got: dict[str, torch.Tensor] = {}

        def capture(module, inputs, output):
            got["h"] = (output[0] if isinstance(output, tuple) else output).detach()
            raise _Captured

        self._reset()
        handle = mod.register_forward_hook(capture, prepend=True)
        try:
            self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=False)
        except _Captured:
            pass
        finally:
            handle.remove()
        h = got["h"][0].float()
        v = h.mean(0) if pooling == "mean" else h[-1]
        return v.tolist()

    def pair_ids(self, prompt: list[dict], response: str, cutoff_len: int) -> list[int]:
        with self.tok_lock:
            enc = D.encode_pair(self.tok, prompt, [response], cutoff_len)
        return enc["prompt_ids"] + enc["response_ids"][0]

    @torch.no_grad()
    def score_ids(self, ids: list[int]) -> float:
        self._reset()
        out = self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=False)
        return float(out.logits[0, 0])

    def score(self, prompt: list[dict], response: str, cutoff_len: int) -> float:
        return self.score_ids(self.pair_ids(prompt, response, cutoff_len))


def now() -> int:
    return int(time.time())
