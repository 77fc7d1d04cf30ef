"""The server's endpoints: each validates its body before the request queues and returns the work to run once
the model is free (chat completions, completions with echo/logprobs, embeddings of a layer, reward scores)."""

from __future__ import annotations

import uuid
from typing import Callable

from ..gate import GateError, layer_module
from .api import (
    MISSING,
    ApiError,
    ClientGone,
    Sampling,
    bool_param,
    get_param,
    int_param,
    is_int,
    parse_messages,
    parse_sampling,
)
from .engine import Engine, now
from .http import Transport


class Handler(Transport):
    # --------------------------------------------------------------------------------- routes
    # Each route validates its body and returns the work to run once the model is free.

    def chat(self, body) -> Callable[[], None]:
        self.engine.need("causal")
        msgs = parse_messages(body.get("messages"))
        s = parse_sampling(body)
        want_lp = bool_param(body, "logprobs")
        top = int_param(body, "top_logprobs", 0, 20, None)
        if top is not None and not want_lp:
            raise ApiError(400, "top_logprobs needs logprobs: true", "top_logprobs", "invalid_value")
        stream = bool_param(body, "stream")
        ids = self.engine.encode(self.engine.render(msgs))
        self.engine.check_context(len(ids), s.max_tokens, "messages")
        k = (top or 0) if want_lp else None
        return lambda: self._chat(ids, s, want_lp, k, stream)

    def _chat(self, ids, s: Sampling, want_lp: bool, k, stream: bool):
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", now()
        n_out = 0
        usage = lambda: {"prompt_tokens": len(ids), "completion_tokens": n_out, "total_tokens": len(ids) + n_out}
        base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.engine.name}
        choices = []
        if stream:
            self._sse_start()
        for idx in range(s.n):
            text, lps, finish = "", [], "length"
            if stream:
                self._sse(
                    {
                        **base,
                        "choices": [
                            {"index": idx, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                        ],
                    }
                )
            for delta, rec, fin in self.engine.stream_text(
                ids, s.for_choice(idx), k or (1 if want_lp else None), self._gone
            ):
                if rec is not None:
                    n_out += 1
                    if want_lp and not stream:
                        lps.append(self._chat_lp(rec, k))
                text += delta
                if fin:
                    finish = fin
                if stream and delta:
                    ch = {"index": idx, "delta": {"content": delta}, "finish_reason": None}
                    if want_lp and rec:
                        ch["logprobs"] = {"content": [self._chat_lp(rec, k)]}
                    self._sse({**base, "choices": [ch]})
                if stream and fin:
                    last = {**base, "choices": [{"index": idx, "delta": {}, "finish_reason": fin}]}
                    if idx == s.n - 1:
                        last["usage"] = usage()
                    self._sse(last)
            choices.append(
                {
                    "index": idx,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": {"content": lps} if want_lp else None,
                }
            )
        if stream:
            return self._done()
        self._json(
            200,
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": self.engine.name,
                "choices": choices,
                "usage": usage(),
            },
        )

    def _chat_lp(self, rec, k):
        t = self.engine.tok.decode([rec["id"]])
        return {
            "token": t,
            "logprob": rec["logprob"],
            "top_logprobs": [
                {"token": self.engine.tok.decode([i]), "logprob": v} for i, v in rec.get("top", [])[: k or 0]
            ],
        }

    def completions(self, body) -> Callable[[], None]:
        self.engine.need("causal")
        prompt = body.get("prompt")
        if prompt is None:
            raise ApiError(400, "you must provide a prompt parameter", "prompt", "missing_required_parameter")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise ApiError(400, "prompt must be a string (one prompt per request)", "prompt", "invalid_type")
        echo = bool_param(body, "echo")
        k = int_param(body, "logprobs", 0, 5, None)
        s = parse_sampling(body, min_tokens=0 if echo else 1)
        stream = bool_param(body, "stream")
        ids = self.engine.encode(prompt)
        if not ids:
            raise ApiError(400, "prompt must not be empty", "prompt", "invalid_value")
        self.engine.check_context(len(ids), s.max_tokens, "prompt")
        return lambda: self._completions(prompt, ids, s, k, echo, stream)

    def _completions(self, prompt: str, ids: list[int], s: Sampling, k: int | None, echo: bool, stream: bool):
        # echo with max_tokens 0 scores the prompt only (a tokenizer / membership-probe request)
        generate = s.max_tokens > 0
        cid, created = f"cmpl-{uuid.uuid4().hex[:24]}", now()
        head = {"id": cid, "object": "text_completion", "created": created, "model": self.engine.name}
        p_toks, p_lps, p_tops, p_offs = (
            self._echo_logprobs(prompt, ids, k) if echo and k is not None else ([], [], [], [])
        )
        if stream:
            self._sse_start()
        choices, n_out = [], 0
        for idx in range(s.n):
            toks, tlps, tops, offs = list(p_toks), list(p_lps), list(p_tops), list(p_offs)
            text, finish = (prompt if echo else ""), "length"
            sent = 0  # tokens whose log-probs went out in stream chunks

            def chunk_lp():  # the log-probs of the tokens since the last chunk (each chunk carries its own)
                nonlocal sent
                if k is None:
                    return None
                lp = {
                    "tokens": toks[sent:],
                    "token_logprobs": tlps[sent:],
                    "top_logprobs": tops[sent:],
                    "text_offset": offs[sent:],
                }
                sent = len(toks)
                return lp

            if stream and echo:
                self._sse(
                    {**head, "choices": [{"index": idx, "text": prompt, "logprobs": chunk_lp(), "finish_reason": None}]}
                )
            steps = (
                self.engine.stream_text(ids, s.for_choice(idx), max(k, 1) if k is not None else None, self._gone)
                if generate
                else iter([("", None, "length")])
            )
            for delta, rec, fin in steps:
                if rec is not None:
                    n_out += 1
                    if k is not None:
                        offs.append(len(text))
                        toks.append(self.engine.tok.decode([rec["id"]]))
                        tlps.append(rec["logprob"])
                        tops.append(
                            {self.engine.tok.decode([i]): v for i, v in rec.get("top", [])[:k]} if k > 0 else None
                        )
                text += delta
                if fin:
                    finish = fin
                if stream and (delta or fin):
                    self._sse(
                        {
                            **head,
                            "choices": [{"index": idx, "text": delta, "logprobs": chunk_lp(), "finish_reason": fin}],
                        }
                    )
            lp = (
                {"tokens": toks, "token_logprobs": tlps, "top_logprobs": tops, "text_offset": offs}
                if k is not None
                else None
            )
            choices.append({"index": idx, "text": text, "logprobs": lp, "finish_reason": finish})
        if stream:
            return self._done()
        self._json(
            200,
            {
                **head,
                "choices": choices,
                "usage": {"prompt_tokens": len(ids), "completion_tokens": n_out, "total_tokens": len(ids) + n_out},
            },
        )

    def _echo_logprobs(self, prompt: str, ids: list[int], k: int):
        """The prompt's own tokens, log-probs, top-k alternatives and text offsets (echo with logprobs)."""
        p_toks, p_lps, p_tops, p_offs = [], [], [], []
        pos = 0
        for rec, piece in zip(self.engine.prompt_logprobs(ids, k), self.engine.prompt_pieces(prompt, ids)):
            p_offs.append(pos)
            p_toks.append(piece)
            p_lps.append(rec["logprob"])
            top = rec["top"]
            p_tops.append(None if top is None or k == 0 else {self.engine.tok.decode([i]): v for i, v in top[:k]})
            pos += len(piece)
        return p_toks, p_lps, p_tops, p_offs

    def embeddings(self, body) -> Callable[[], None]:
        inp = body.get("input")
        items = [inp] if isinstance(inp, str) else inp
        if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
            raise ApiError(400, "input must be a string or an array of strings", "input", "invalid_type")
        if len(items) > 2048:
            raise ApiError(400, f"input holds {len(items)} strings; at most 2048 per request", "input", "invalid_value")
        layer = body.get("layer", self.engine.num_layers)
        if not is_int(layer):
            raise ApiError(400, "layer must be an integer", "layer", "invalid_type")
        pooling = body.get("pooling", "mean")
        if pooling not in ("mean", "last"):
            raise ApiError(400, 'pooling must be "mean" or "last"', "pooling", "invalid_value")
        if get_param(body, "encoding_format") not in (MISSING, "float"):
            raise ApiError(400, 'encoding_format: only "float" is supported', "encoding_format", "invalid_value")
        try:
            layer_module(self.engine.model, layer)
        except GateError as e:
            raise ApiError(400, str(e), "layer", "invalid_value") from e
        all_ids = []
        for i, text in enumerate(items):
            ids = self.engine.encode(text)
            p = "input" if isinstance(inp, str) else f"input[{i}]"
            if not ids:
                raise ApiError(400, f"{p} must not be empty", p, "invalid_value")
            self.engine.check_context(len(ids), 0, p)
            all_ids.append(ids)

        def run():
            data = []
            for i, ids in enumerate(all_ids):
                if self._gone():
                    raise ClientGone
                data.append({"object": "embedding", "index": i, "embedding": self.engine.embed(ids, layer, pooling)})
            n_tok = sum(len(x) for x in all_ids)
            self._json(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": self.engine.name,
                    "usage": {"prompt_tokens": n_tok, "total_tokens": n_tok},
                },
            )

        return run

    def score(self, body) -> Callable[[], None]:
        self.engine.need("reward")
        items = body.get("items")
        if not isinstance(items, list) or not items:
            raise ApiError(400, "items must be a non-empty array of {prompt, response}", "items", "invalid_type")
        ctx = self.engine.context_length or 2048
        cutoff = int_param(body, "cutoff_len", 1, ctx, min(2048, ctx))
        seqs = []
        for i, it in enumerate(items):
            if not isinstance(it, dict) or not isinstance(it.get("response"), str):
                raise ApiError(
                    400, f"items[{i}] must be {{prompt: [messages], response: string}}", f"items[{i}]", "invalid_type"
                )
            msgs = parse_messages(it.get("prompt"), f"items[{i}].prompt")
            seqs.append(self.engine.pair_ids(msgs, it["response"], cutoff))

        def run():
            scores = []
            for ids in seqs:
                if self._gone():
                    raise ClientGone
                scores.append(self.engine.score_ids(ids))
            self._json(200, {"object": "list", "model": self.engine.name, "scores": scores})

        return run


def make_handler(engine: Engine, loopback: bool = True) -> type[Handler]:
    """The request handler class of a server over `engine` (a loopback server checks Host and Origin)."""
    # timeout: a client that stalls while sending its request loses the connection
    attrs = {"engine": engine, "loopback": loopback, "timeout": engine.limits.read_timeout}
    return type("BoundHandler", (Handler,), attrs)
