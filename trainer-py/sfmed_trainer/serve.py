"""OpenAI-compatible HTTP server over a local checkpoint (standard-library ThreadingHTTPServer).

Endpoints: GET /v1/models; POST /v1/chat/completions (stream or not), /v1/completions (raw prompt, greedy at
temperature 0, optional logprobs, `echo` with the prompt's own token log-probs), /v1/embeddings (extra params
`layer`, `pooling`), /v1/score (reward model).
Requests run one at a time on the model (a lock), so hooks and the gate's running state stay per request.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import torch

from . import data as D
from .events import Events, log
from .gate import Gate, GateError, decoder_layers, layer_module


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.param, self.code = status, param, code


class _Captured(Exception):
    pass


class Engine:
    def __init__(self, checkpoint: str, gate: str | None = None, name: str | None = None, device: str | None = None):
        from transformers import AutoConfig

        from .trainer import load_causal, load_reward, load_tokenizer

        cfg = AutoConfig.from_pretrained(checkpoint)
        self.kind = "reward" if any("SequenceClassification" in a for a in (cfg.architectures or [])) else "causal"
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tok = load_tokenizer(checkpoint)
        load = load_reward if self.kind == "reward" else load_causal
        kw = {"pad_id": self.tok.pad_token_id} if self.kind == "reward" else {}
        self.model = load(checkpoint, None, self.device, **kw).eval()
        self.name = name or os.path.basename(os.path.normpath(checkpoint))
        _, layers = decoder_layers(self.model)
        self.num_layers = len(layers)
        self.hidden_size = self.model.config.hidden_size
        self.lock = threading.Lock()
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
        return D.encode(self.tok, text)

    def check_model(self, body: dict):
        m = body.get("model")
        if m not in (None, "", self.name):
            raise ApiError(404, f"model {m!r} not found (this server serves {self.name!r})", "model", "model_not_found")

    def need(self, kind: str):
        if self.kind != kind:
            raise ApiError(400, f"this endpoint needs a {kind} checkpoint; {self.name!r} is a {self.kind} model")

    # ------------------------------------------------------------------------------------------- generation

    @torch.no_grad()
    def generate(self, ids: list[int], max_tokens: int, temperature: float, top_p: float, seed: int | None,
                 top_k_logprobs: int | None) -> Iterator[dict[str, Any]]:
        """Yields {"id", "logprob", "top": [(id, lp)...]} per token; ends on a stop token (not yielded
        as text: its dict has "stop": True) or after max_tokens."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4), "little"))
        self._reset()
        past = None
        inp = torch.tensor([ids], dtype=torch.long, device=self.device)
        for _ in range(max_tokens):
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

    def stream_text(self, ids, body, top_k_logprobs=None) -> Iterator[tuple[str, dict | None, str | None]]:
        """Yields (text_delta, token_record, finish_reason)."""
        max_tokens = next((v for v in (body.get("max_tokens"), body.get("max_completion_tokens")) if v is not None), 16)
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise ApiError(400, "max_tokens must be an integer", "max_tokens")
        temperature = float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0)
        top_p = float(body.get("top_p", 1.0) if body.get("top_p") is not None else 1.0)
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        if max_tokens < 1:
            raise ApiError(400, "max_tokens must be >= 1 (0 only with echo on /v1/completions)", "max_tokens")
        out_ids: list[int] = []
        emitted = ""
        finish = "length"
        for rec in self.generate(ids, max_tokens, temperature, top_p, body.get("seed"), top_k_logprobs):
            if rec["stop"]:
                finish = "stop"
                break
            out_ids.append(rec["id"])
            text = self.tok.decode(out_ids, skip_special_tokens=False)
            hit = next((s for s in stop if s and s in text), None)
            if hit:
                text = text[: text.index(hit)]
                finish = "stop"
            if text.endswith("\ufffd") and not hit:
                yield "", rec, None  # incomplete UTF-8 sequence: wait for the next token
                continue
            delta = text[len(emitted):] if text.startswith(emitted) else ""
            emitted = text
            yield delta, rec, None
            if hit:
                break
        yield "", None, finish

    def prompt_pieces(self, prompt: str, ids: list[int]) -> list[str]:
        """The prompt's text cut at its token boundaries, one piece per id, joining back to the prompt exactly:
        from the tokenizer's character offsets, so a character split over several byte-level tokens goes to
        the first of them and the others get "" (decoding such a token alone gives U+FFFD). Without offsets
        (a slow tokenizer), each token decoded alone."""
        try:
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
        picked = lp.gather(1, torch.tensor(ids[1:], device=lp.device).unsqueeze(1)).squeeze(1).tolist() if len(ids) > 1 else []
        tops = None
        if top_k and len(ids) > 1:
            v, i = torch.topk(lp, min(top_k, lp.shape[-1]), dim=-1)
            tops = [list(zip(a, b)) for a, b in zip(i.tolist(), v.tolist())]
        for j, tid in enumerate(ids[1:]):
            out.append({"id": tid, "logprob": picked[j], "top": tops[j] if tops is not None else None})
        return out

    # ------------------------------------------------------------------------------------------- others

    @torch.no_grad()
    def embed(self, text: str, layer: int, pooling: str) -> list[float]:
        ids = self.encode(text)
        if not ids:
            raise ApiError(400, "input must not be empty", "input")
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

    @torch.no_grad()
    def score(self, prompt: list[dict], response: str, cutoff_len: int) -> float:
        enc = D.encode_pair(self.tok, prompt, [response], cutoff_len)
        ids = enc["prompt_ids"] + enc["response_ids"][0]
        self._reset()
        out = self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=False)
        return float(out.logits[0, 0])


def _now() -> int:
    return int(time.time())


def make_handler(engine: Engine):
    class Handler(BaseHTTPRequestHandler):
        server_version = "sfmed-trainer"

        def log_message(self, fmt, *args):
            log("serve: " + fmt % args)

        def _json(self, status: int, obj: Any):
            data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, e: ApiError):
            self._json(e.status, {"error": {"message": str(e), "type": "invalid_request_error" if e.status < 500 else "server_error",
                                            "param": e.param, "code": e.code}})

        def _body(self) -> dict:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError as e:
                raise ApiError(400, f"invalid JSON body: {e.msg}") from e
            if not isinstance(body, dict):
                raise ApiError(400, "body must be a JSON object")
            return body

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                return self._json(200, {"object": "list", "data": [{
                    "id": engine.name, "object": "model", "created": _now(), "owned_by": "sfmed", "kind": engine.kind,
                    "num_layers": engine.num_layers, "hidden_size": engine.hidden_size,
                    "gate": None if not engine.gate else {"layer": engine.gate.layer, "threshold": engine.gate.threshold,
                                                           "entries": int(engine.gate.entries.shape[0])}}]})
            if self.path.rstrip("/") in ("", "/health"):
                return self._json(200, {"ok": True})
            self._error(ApiError(404, f"no route GET {self.path}"))

        def do_POST(self):
            routes = {"/v1/chat/completions": self.chat, "/v1/completions": self.completions,
                      "/v1/embeddings": self.embeddings, "/v1/score": self.score}
            fn = routes.get(self.path.rstrip("/"))
            try:
                if fn is None:
                    raise ApiError(404, f"no route POST {self.path}")
                body = self._body()
                engine.check_model(body)
                with engine.lock:
                    fn(body)
            except ApiError as e:
                self._error(e)
            except (BrokenPipeError, ConnectionResetError):
                pass
            except Exception as e:  # noqa: BLE001 - report, keep serving
                log(f"serve: {type(e).__name__}: {e}")
                self._error(ApiError(500, f"{type(e).__name__}: {e}"))

        # --------------------------------------------------------------------------------- streaming

        def _sse_start(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

        def _sse(self, obj):
            self.wfile.write(b"data: " + json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n\n")
            self.wfile.flush()

        # --------------------------------------------------------------------------------- routes

        def chat(self, body):
            engine.need("causal")
            msgs = body.get("messages")
            if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") in ("system", "user", "assistant") for m in msgs):
                raise ApiError(400, "messages must be a non-empty array of {role, content}", "messages")
            ids = engine.encode(D.render(engine.tok, [{"role": m["role"], "content": m["content"]} for m in msgs], True))
            k = int(body.get("top_logprobs") or 0) if body.get("logprobs") else None
            want_lp = bool(body.get("logprobs"))
            cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", _now()
            n_out = 0
            if body.get("stream"):
                self._sse_start()
                base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": engine.name}
                self._sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
                for delta, rec, finish in engine.stream_text(ids, body, k or (1 if want_lp else None)):
                    if rec is not None:
                        n_out += 1
                    if delta:
                        ch = {"index": 0, "delta": {"content": delta}, "finish_reason": None}
                        if want_lp and rec:
                            ch["logprobs"] = {"content": [self._chat_lp(rec, k)]}
                        self._sse({**base, "choices": [ch]})
                    if finish:
                        self._sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                                   "usage": {"prompt_tokens": len(ids), "completion_tokens": n_out, "total_tokens": len(ids) + n_out}})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                return
            text, lps, finish = "", [], "length"
            for delta, rec, fin in engine.stream_text(ids, body, k or (1 if want_lp else None)):
                text += delta
                if rec is not None:
                    n_out += 1
                    if want_lp:
                        lps.append(self._chat_lp(rec, k))
                if fin:
                    finish = fin
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                      "logprobs": {"content": lps} if want_lp else None}
            self._json(200, {"id": cid, "object": "chat.completion", "created": created, "model": engine.name, "choices": [choice],
                             "usage": {"prompt_tokens": len(ids), "completion_tokens": n_out, "total_tokens": len(ids) + n_out}})

        def _chat_lp(self, rec, k):
            t = engine.tok.decode([rec["id"]])
            return {"token": t, "logprob": rec["logprob"],
                    "top_logprobs": [{"token": engine.tok.decode([i]), "logprob": v} for i, v in rec.get("top", [])[: k or 0]]}

        def completions(self, body):
            engine.need("causal")
            prompt = body.get("prompt")
            if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
                prompt = prompt[0]
            if not isinstance(prompt, str):
                raise ApiError(400, "prompt must be a string (one prompt per request)", "prompt")
            ids = engine.encode(prompt)
            if not ids:
                raise ApiError(400, "prompt must not be empty", "prompt")
            k = body.get("logprobs")
            k = int(k) if k is not None and k is not False else None
            echo = bool(body.get("echo"))
            mt = body.get("max_tokens")
            if mt is not None and (not isinstance(mt, int) or isinstance(mt, bool)):
                raise ApiError(400, "max_tokens must be an integer", "max_tokens")
            # echo with max_tokens 0 scores the prompt only (a tokenizer / membership-probe request)
            generate = not (echo and mt == 0)
            cid, created = f"cmpl-{uuid.uuid4().hex[:24]}", _now()
            toks, tlps, tops, offs = [], [], [], []
            text, finish, n_out = "", "length", 0
            if echo:
                text = prompt
                if k is not None:
                    pos = 0
                    for rec, piece in zip(engine.prompt_logprobs(ids, k), engine.prompt_pieces(prompt, ids)):
                        offs.append(pos)
                        toks.append(piece)
                        tlps.append(rec["logprob"])
                        tops.append(None if rec["top"] is None or k == 0 else
                                    {engine.tok.decode([i]): v for i, v in rec["top"][:k]})
                        pos += len(piece)
            stream = bool(body.get("stream"))
            sent = 0  # tokens whose log-probs went out in stream chunks

            def chunk_lp():  # the log-probs of the tokens since the last chunk (each chunk carries its own)
                nonlocal sent
                if k is None:
                    return None
                lp = {"tokens": toks[sent:], "token_logprobs": tlps[sent:], "top_logprobs": tops[sent:],
                      "text_offset": offs[sent:]}
                sent = len(toks)
                return lp

            if stream:
                self._sse_start()
                if echo:
                    self._sse({"id": cid, "object": "text_completion", "created": created, "model": engine.name,
                               "choices": [{"index": 0, "text": prompt, "logprobs": chunk_lp(), "finish_reason": None}]})
            steps = engine.stream_text(ids, body, max(k, 1) if k is not None else None) if generate else \
                iter([("", None, "length")])
            for delta, rec, fin in steps:
                if rec is not None:
                    n_out += 1
                    if k is not None:
                        offs.append(len(text))
                        toks.append(engine.tok.decode([rec["id"]]))
                        tlps.append(rec["logprob"])
                        tops.append({engine.tok.decode([i]): v for i, v in rec.get("top", [])[:k]} if k > 0 else None)
                text += delta
                if fin:
                    finish = fin
                if stream and (delta or fin):
                    self._sse({"id": cid, "object": "text_completion", "created": created, "model": engine.name,
                               "choices": [{"index": 0, "text": delta, "logprobs": chunk_lp(), "finish_reason": fin}]})
            if stream:
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                return
            lp = {"tokens": toks, "token_logprobs": tlps, "top_logprobs": tops, "text_offset": offs} if k is not None else None
            self._json(200, {"id": cid, "object": "text_completion", "created": created, "model": engine.name,
                             "choices": [{"index": 0, "text": text, "logprobs": lp, "finish_reason": finish}],
                             "usage": {"prompt_tokens": len(ids), "completion_tokens": n_out, "total_tokens": len(ids) + n_out}})

        def embeddings(self, body):
            inp = body.get("input")
            items = [inp] if isinstance(inp, str) else inp
            if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
                raise ApiError(400, "input must be a string or an array of strings", "input")
            layer = body.get("layer", engine.num_layers)
            if not isinstance(layer, int) or isinstance(layer, bool):
                raise ApiError(400, "layer must be an integer", "layer")
            pooling = body.get("pooling", "mean")
            if pooling not in ("mean", "last"):
                raise ApiError(400, 'pooling must be "mean" or "last"', "pooling")
            data, n_tok = [], 0
            for i, text in enumerate(items):
                data.append({"object": "embedding", "index": i, "embedding": engine.embed(text, layer, pooling)})
                n_tok += len(engine.encode(text))
            self._json(200, {"object": "list", "data": data, "model": engine.name,
                             "usage": {"prompt_tokens": n_tok, "total_tokens": n_tok}})

        def score(self, body):
            engine.need("reward")
            items = body.get("items")
            if not isinstance(items, list) or not items:
                raise ApiError(400, "items must be a non-empty array of {prompt, response}", "items")
            scores = []
            for i, it in enumerate(items):
                if not isinstance(it, dict) or not isinstance(it.get("response"), str) or not isinstance(it.get("prompt"), list) or not it["prompt"]:
                    raise ApiError(400, f"items[{i}] must be {{prompt: [messages], response: string}}", f"items[{i}]")
                try:
                    msgs = [{"role": m["role"], "content": m["content"]} for m in it["prompt"]]
                except (KeyError, TypeError) as e:
                    raise ApiError(400, f"items[{i}].prompt: messages need role and content", f"items[{i}].prompt") from e
                scores.append(engine.score(msgs, it["response"], int(body.get("cutoff_len", 2048))))
            self._json(200, {"object": "list", "model": engine.name, "scores": scores})

    return Handler


def make_server(checkpoint: str, host: str = "127.0.0.1", port: int = 0, gate: str | None = None, name: str | None = None):
    engine = Engine(checkpoint, gate, name)
    server = ThreadingHTTPServer((host, port), make_handler(engine))
    server.daemon_threads = True
    server.engine = engine  # type: ignore[attr-defined]
    return server


def main(checkpoint: str, host: str, port: int, gate: str | None, name: str | None, events: Events) -> int:
    try:
        server = make_server(checkpoint, host, port, gate, name)
    except (GateError, OSError, ValueError) as e:
        events.error(e)
        log(f"error: {e}")
        return 2
    h, p = server.server_address[:2]
    url = f"http://{'[' + h + ']' if ':' in h else h}:{p}"

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    eng = server.engine  # type: ignore[attr-defined]
    events.emit("ready", url=url, model=eng.name, kind=eng.kind, gate=bool(eng.gate))
    log(f"serving {checkpoint} at {url}")
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    events.emit("stopped", url=url)
    return 0
