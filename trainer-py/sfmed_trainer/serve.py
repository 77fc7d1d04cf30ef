"""OpenAI-compatible HTTP server over a local checkpoint (standard-library ThreadingHTTPServer).

Endpoints: GET /v1/models, /health; POST /v1/chat/completions (stream or not), /v1/completions (raw prompt,
greedy at temperature 0, optional logprobs, `echo` with the prompt's own token log-probs), /v1/embeddings
(extra params `layer`, `pooling`), /v1/score (reward model).

Requests are validated as OpenAI validates them (400 with `{"error": {message, type, param, code}}`) before
they queue. The model runs one request at a time (hooks and the gate's running state stay per request); the
others wait in a bounded FIFO queue (503 + Retry-After when it is full or a request waited too long), and a
client that disconnects stops its generation at the next token. See docs/serve.md for what is enforced.
"""
from __future__ import annotations

import collections
import hmac
import ipaddress
import json
import math
import os
import select
import signal
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import torch

from . import data as D
from .events import Events, log
from .gate import Gate, GateError, decoder_layers, layer_module

API_KEY_ENV = "SFMED_SERVE_API_KEY"


@dataclass(frozen=True)
class Limits:
    """What the server enforces beyond the endpoints' own parameters (defaults documented in docs/serve.md)."""

    max_body_bytes: int = 8 << 20
    max_queue: int = 32  # requests waiting behind the one on the model
    max_queue_wait: float = 60.0  # seconds a request may wait for the model
    api_key: str | None = None
    require_model: bool = False  # OpenAI requires `model`; a one-model server accepts it missing by default
    read_timeout: float = 30.0  # seconds for a client to send its request line, headers and body


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.param, self.code, self.headers = status, param, code, headers or {}

    @property
    def type(self) -> str:
        return "server_error" if self.status >= 500 else "invalid_request_error"


class ClientGone(Exception):
    """The client closed its connection: stop working on its request."""


class _Captured(Exception):
    pass


# ----------------------------------------------------------------------------------------------- validation

_MISSING = object()


def _get(body: dict, key: str) -> Any:
    v = body.get(key, _MISSING)
    return _MISSING if v is None else v  # null means "default", as in OpenAI's API


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def int_param(body: dict, key: str, lo: int, hi: int | None, default: Any) -> Any:
    v = _get(body, key)
    if v is _MISSING:
        return default
    rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
    if not _is_int(v):
        raise ApiError(400, f"{key} must be an integer {rng}, got {json.dumps(v)}", key, "invalid_type")
    if v < lo or (hi is not None and v > hi):
        raise ApiError(400, f"{key} must be an integer {rng}, got {v}", key, "invalid_value")
    return v


def num_param(body: dict, key: str, lo: float, hi: float, default: float, lo_open: bool = False) -> float:
    v = _get(body, key)
    if v is _MISSING:
        return default
    rng = f"{'>' if lo_open else '>='} {lo} and <= {hi}"
    if not _is_num(v):
        raise ApiError(400, f"{key} must be a number {rng}, got {json.dumps(v)}", key, "invalid_type")
    if v < lo or v > hi or (lo_open and v == lo):
        raise ApiError(400, f"{key} must be a number {rng}, got {v}", key, "invalid_value")
    return float(v)


def bool_param(body: dict, key: str, default: bool = False) -> bool:
    v = _get(body, key)
    if v is _MISSING:
        return default
    if not isinstance(v, bool):
        raise ApiError(400, f"{key} must be a boolean, got {json.dumps(v)}", key, "invalid_type")
    return v


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    seed: int | None
    n: int

    def for_choice(self, i: int) -> "Sampling":
        """Choice i of n samples with seed + i, so choice 0 equals the same request with n = 1."""
        if self.seed is None or i == 0:
            return self
        return replace(self, seed=(self.seed + i + 2**63) % 2**64 - 2**63)


def parse_sampling(body: dict, min_tokens: int = 1) -> Sampling:
    key = "max_tokens" if _get(body, "max_tokens") is not _MISSING else "max_completion_tokens"
    mt = _get(body, key)
    if mt is not _MISSING and _is_int(mt) and mt < min_tokens:
        why = " (0 only with echo on /v1/completions)" if min_tokens == 1 else ""
        raise ApiError(400, f"{key} must be >= {min_tokens}{why}, got {mt}", key, "invalid_value")
    max_tokens = int_param(body, key, min_tokens, None, 16)
    temperature = num_param(body, "temperature", 0, 2, 1.0)
    top_p = num_param(body, "top_p", 0, 1, 1.0, lo_open=True)
    for k in ("presence_penalty", "frequency_penalty"):  # accepted for compatibility, not applied
        num_param(body, k, -2, 2, 0.0)
    stop = _get(body, "stop")
    if stop is _MISSING:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise ApiError(400, "stop must be a string or an array of at most 4 strings", "stop", "invalid_type")
    seed = _get(body, "seed")
    if seed is _MISSING:
        seed = None
    elif not _is_int(seed) or not -(2**63) <= seed < 2**64:
        raise ApiError(400, f"seed must be a 64-bit integer, got {json.dumps(seed)}", "seed", "invalid_type")
    n = int_param(body, "n", 1, 128, 1)
    return Sampling(max_tokens, temperature, top_p, stops, seed, n)


def parse_messages(msgs: Any, param: str = "messages") -> list[dict[str, str]]:
    """OpenAI chat messages → [{role, content}] with text content; content parts of type "text" are joined."""
    if not isinstance(msgs, list) or not msgs:
        raise ApiError(400, f"{param} must be a non-empty array of {{role, content}}", param, "invalid_type")
    out = []
    for i, m in enumerate(msgs):
        p = f"{param}[{i}]"
        if not isinstance(m, dict):
            raise ApiError(400, f"{p} must be an object {{role, content}}", p, "invalid_type")
        role = m.get("role")
        if role not in ("system", "user", "assistant"):
            raise ApiError(400, f'{p}.role must be "system", "user" or "assistant", got {json.dumps(role)}', f"{p}.role", "invalid_value")
        c = m.get("content")
        if isinstance(c, list):
            if not all(isinstance(x, dict) and x.get("type") == "text" and isinstance(x.get("text"), str) for x in c):
                raise ApiError(400, f'{p}.content: only parts {{"type": "text", "text": string}} are supported', f"{p}.content", "invalid_type")
            c = "".join(x["text"] for x in c)
        if not isinstance(c, str):
            raise ApiError(400, f"{p}.content must be a string or an array of text parts", f"{p}.content", "invalid_type")
        out.append({"role": role, "content": c})
    return out


# ----------------------------------------------------------------------------------------------- scheduling

class Scheduler:
    """One request on the model at a time; at most `max_queue` others wait, first come first served, each for
    at most `max_wait` seconds. Waiters whose client went away leave the queue."""

    def __init__(self, max_queue: int, max_wait: float):
        self.max_queue, self.max_wait = max_queue, max_wait
        self.cv = threading.Condition()
        self.busy = False
        self.waiting: collections.deque[object] = collections.deque()
        self.avg_s = 1.0  # moving average of time on the model, for Retry-After

    def retry_after(self) -> str:
        return str(max(1, min(60, math.ceil(self.avg_s * (len(self.waiting) + 1)))))

    def _busy_error(self, msg: str, code: str) -> ApiError:
        return ApiError(503, msg, None, code, {"Retry-After": self.retry_after()})

    @contextmanager
    def slot(self, gone: Callable[[], bool] = lambda: False):
        with self.cv:
            if self.busy or self.waiting:
                if len(self.waiting) >= self.max_queue:
                    raise self._busy_error(f"the server is busy: {len(self.waiting)} requests are already waiting "
                                           f"(--max-queue {self.max_queue}); retry later", "queue_full")
                ticket = object()
                self.waiting.append(ticket)
                deadline = time.monotonic() + self.max_wait
                try:
                    while self.busy or self.waiting[0] is not ticket:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise self._busy_error(f"the request waited {self.max_wait:g} s for the model "
                                                   "(--max-queue-wait); retry later", "queue_timeout")
                        self.cv.wait(min(left, 0.1))
                        if gone():
                            raise ClientGone
                    self.waiting.popleft()
                except BaseException:
                    if ticket in self.waiting:
                        self.waiting.remove(ticket)
                        self.cv.notify_all()
                    raise
            self.busy = True
        t0 = time.monotonic()
        try:
            yield
        finally:
            with self.cv:
                self.avg_s = 0.8 * self.avg_s + 0.2 * (time.monotonic() - t0)
                self.busy = False
                self.cv.notify_all()


# ----------------------------------------------------------------------------------------------- model

class Engine:
    def __init__(self, checkpoint: str, gate: str | None = None, name: str | None = None, device: str | None = None,
                 limits: Limits | None = None):
        from transformers import AutoConfig

        from .model_io import is_reward_checkpoint, load_causal, load_reward, load_tokenizer

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
            what = f"{n_prompt} prompt tokens + max_tokens {max_tokens} = {n_prompt + max_tokens}" if max_tokens else \
                f"{n_prompt} tokens"
            raise ApiError(400, f"this model's maximum context length is {ctx} tokens; the request has {what}",
                           param, "context_length_exceeded")

    # ------------------------------------------------------------------------------------------- generation

    @torch.no_grad()
    def generate(self, ids: list[int], max_tokens: int, temperature: float, top_p: float, seed: int | None,
                 top_k_logprobs: int | None, cancelled: Callable[[], bool] | None = None) -> Iterator[dict[str, Any]]:
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

    def stream_text(self, ids: list[int], s: Sampling, top_k_logprobs: int | None = None,
                    cancelled: Callable[[], bool] | None = None) -> Iterator[tuple[str, dict | None, str | None]]:
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
            delta = safe[len(emitted):] if safe.startswith(emitted) else ""
            emitted = safe
            yield delta, rec, None
            if hit:
                break
        rest = text[len(emitted):] if text.startswith(emitted) and not text.endswith("\ufffd") else ""
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


def _now() -> int:
    return int(time.time())


# ----------------------------------------------------------------------------------------------- access

def is_loopback_host(host: str) -> bool:
    """A name or address that only this machine can reach (localhost, *.localhost, 127.0.0.0/8, ::1)."""
    h = host.strip("[]").rstrip(".").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def host_header_ok(host: str | None, port: int) -> bool:
    """Host of a request to a loopback bind: a loopback name, with no port or the bound one. A DNS-rebinding
    page reaches the port under its own name and fails here."""
    if host is None:  # HTTP/1.0 clients may omit it; browsers never do
        return True
    try:
        u = urlsplit("//" + host.strip())
        return u.hostname is not None and is_loopback_host(u.hostname) and u.port in (None, port)
    except ValueError:
        return False


def origin_ok(origin: str | None) -> bool:
    """Origin (sent by browsers on cross-origin requests) of a page on this machine; "null" and remote pages fail."""
    if origin is None:
        return True
    try:
        u = urlsplit(origin.strip())
        return u.scheme in ("http", "https") and u.hostname is not None and is_loopback_host(u.hostname)
    except ValueError:
        return False


# ----------------------------------------------------------------------------------------------- HTTP

_POST_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/score")
_GET_ROUTES = ("/v1/models", "/health", "")


def make_handler(engine: Engine, loopback: bool = True):
    limits = engine.limits

    class Handler(BaseHTTPRequestHandler):
        server_version = "sfmed-trainer"
        timeout = limits.read_timeout  # a client that stalls while sending its request loses the connection
        _streaming = False

        def log_message(self, fmt, *args):
            log("serve: " + fmt % args)  # request line and status only: never headers (the API key)

        def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None):
            data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, e: ApiError):
            err = {"message": str(e), "type": e.type, "param": e.param, "code": e.code}
            if self._streaming:  # headers are out: end the event stream with the error
                self._sse({"error": err})
                return
            self._json(e.status, {"error": err}, e.headers)

        # --------------------------------------------------------------------------------- checks

        def _access(self, path: str):
            if loopback and not (host_header_ok(self.headers.get("Host"), self.server.server_address[1])
                                 and origin_ok(self.headers.get("Origin"))):
                raise ApiError(403, "this server is bound to loopback and only answers requests addressed to "
                                    "localhost (Host/Origin header refused)", None, "forbidden_host")
            if limits.api_key is None or path in ("", "/health"):
                return
            auth = self.headers.get("Authorization") or ""
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not given.strip():
                raise ApiError(401, "missing API key: send Authorization: Bearer <key>", None, "invalid_api_key",
                               {"WWW-Authenticate": "Bearer"})
            if not hmac.compare_digest(given.strip().encode("utf-8"), limits.api_key.encode("utf-8")):
                raise ApiError(401, "incorrect API key", None, "invalid_api_key", {"WWW-Authenticate": "Bearer"})

        def _drain(self, n: int):
            """Read and drop up to n body bytes (bounded), so the client sees our error instead of a reset."""
            self.close_connection = True
            try:
                self.connection.settimeout(1.0)
                left = min(n, 4 * limits.max_body_bytes)
                while left > 0:
                    got = self.rfile.read1(min(left, 1 << 16))
                    if not got:
                        break
                    left -= len(got)
            except OSError:
                pass

        def _body(self) -> dict:
            ctype = self.headers.get("Content-Type")
            lengths = self.headers.get_all("Content-Length") or []
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                raise ApiError(411, "chunked request bodies are not accepted: send Content-Length", None, "length_required")
            if not lengths:
                self.close_connection = True
                raise ApiError(411, "Content-Length is required", None, "length_required")
            if len(set(x.strip() for x in lengths)) > 1 or not lengths[0].strip().isdigit():
                self.close_connection = True
                raise ApiError(400, f"bad Content-Length: {lengths[0][:40]!r}", None, "invalid_content_length")
            n = int(lengths[0])
            if n > limits.max_body_bytes:
                self._drain(n)
                raise ApiError(413, f"request body is {n} bytes; the limit is {limits.max_body_bytes} (--max-body-bytes)",
                               None, "request_too_large")
            if ctype is not None:
                mt = ctype.split(";")[0].strip().lower()
                if mt != "application/json" and not mt.endswith("+json"):
                    self._drain(n)
                    raise ApiError(415, f"Content-Type must be application/json, got {ctype[:60]!r}", None,
                                   "unsupported_media_type")
            raw = self.rfile.read(n) if n else b""
            if len(raw) < n:
                raise ClientGone
            try:
                body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
            except UnicodeDecodeError as e:
                raise ApiError(400, f"body is not UTF-8: {e.reason} at byte {e.start}", None, "invalid_json") from e
            except ValueError as e:
                raise ApiError(400, f"invalid JSON body: {e}", None, "invalid_json") from e
            if not isinstance(body, dict):
                raise ApiError(400, "body must be a JSON object", None, "invalid_json")
            return body

        def _gone(self) -> bool:
            """The client closed its end (readable with nothing to read). Cheap enough to ask every token."""
            try:
                r, _, _ = select.select([self.connection], [], [], 0)
                return bool(r) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except (OSError, ValueError):
                return True

        # --------------------------------------------------------------------------------- methods

        def _run(self, method: str):
            path = self.path.split("?", 1)[0].rstrip("/")
            try:
                self._access(path)
                routes = _GET_ROUTES if method == "GET" else _POST_ROUTES
                if path not in routes:
                    other = _POST_ROUTES if method == "GET" else _GET_ROUTES
                    if path in other:
                        raise ApiError(405, f"{method} {path} is not allowed; use {'POST' if method == 'GET' else 'GET'}",
                                       None, "method_not_allowed", {"Allow": "POST" if method == "GET" else "GET"})
                    raise ApiError(404, f"no route {method} {self.path}", None, "not_found")
                if method == "GET":
                    return self._get(path)
                body = self._body()
                engine.check_model(body)
                job = {"/v1/chat/completions": self.chat, "/v1/completions": self.completions,
                       "/v1/embeddings": self.embeddings, "/v1/score": self.score}[path](body)
                with engine.sched.slot(self._gone):
                    job()
            except ApiError as e:
                try:
                    self._error(e)
                except OSError:
                    pass
            except (ClientGone, BrokenPipeError, ConnectionResetError, TimeoutError) as e:
                what = "timed out" if isinstance(e, TimeoutError) else "closed the connection"
                log(f"serve: client {what}; {method} {path} cancelled")
                self.close_connection = True
            except Exception as e:  # noqa: BLE001 - report, keep serving
                log(f"serve: {type(e).__name__}: {e}")
                try:
                    self._error(ApiError(500, f"{type(e).__name__}: {e}", None, "internal_error"))
                except OSError:
                    pass

        def do_GET(self):
            self._run("GET")

        def do_POST(self):
            self._run("POST")

        def _not_allowed(self):
            self.close_connection = True
            self._json(405, {"error": {"message": f"method {self.command} is not allowed", "type": "invalid_request_error",
                                       "param": None, "code": "method_not_allowed"}}, {"Allow": "GET, POST"})

        do_PUT = do_DELETE = do_PATCH = _not_allowed

        def _get(self, path: str):
            if path == "/v1/models":
                return self._json(200, {"object": "list", "data": [{
                    "id": engine.name, "object": "model", "created": _now(), "owned_by": "sfmed", "kind": engine.kind,
                    "num_layers": engine.num_layers, "hidden_size": engine.hidden_size,
                    "context_length": engine.context_length,
                    "gate": None if not engine.gate else {"layer": engine.gate.layer, "threshold": engine.gate.threshold,
                                                           "entries": int(engine.gate.entries.shape[0])}}]})
            s = engine.sched
            return self._json(200, {"ok": True, "busy": s.busy, "queued": len(s.waiting)})

        # --------------------------------------------------------------------------------- streaming

        def _sse_start(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self._streaming = True

        def _sse(self, obj):
            self.wfile.write(b"data: " + json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n\n")
            self.wfile.flush()

        def _done(self):
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        # --------------------------------------------------------------------------------- routes
        # Each route validates its body and returns the work to run once the model is free.

        def chat(self, body) -> Callable[[], None]:
            engine.need("causal")
            msgs = parse_messages(body.get("messages"))
            s = parse_sampling(body)
            want_lp = bool_param(body, "logprobs")
            top = int_param(body, "top_logprobs", 0, 20, None)
            if top is not None and not want_lp:
                raise ApiError(400, "top_logprobs needs logprobs: true", "top_logprobs", "invalid_value")
            stream = bool_param(body, "stream")
            ids = engine.encode(engine.render(msgs))
            engine.check_context(len(ids), s.max_tokens, "messages")
            k = (top or 0) if want_lp else None
            return lambda: self._chat(ids, s, want_lp, k, stream)

        def _chat(self, ids, s: Sampling, want_lp: bool, k, stream: bool):
            cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", _now()
            n_out = 0
            usage = lambda: {"prompt_tokens": len(ids), "completion_tokens": n_out, "total_tokens": len(ids) + n_out}
            base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": engine.name}
            choices = []
            if stream:
                self._sse_start()
            for idx in range(s.n):
                text, lps, finish = "", [], "length"
                if stream:
                    self._sse({**base, "choices": [{"index": idx, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
                for delta, rec, fin in engine.stream_text(ids, s.for_choice(idx), k or (1 if want_lp else None), self._gone):
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
                choices.append({"index": idx, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                                "logprobs": {"content": lps} if want_lp else None})
            if stream:
                return self._done()
            self._json(200, {"id": cid, "object": "chat.completion", "created": created, "model": engine.name,
                             "choices": choices, "usage": usage()})

        def _chat_lp(self, rec, k):
            t = engine.tok.decode([rec["id"]])
            return {"token": t, "logprob": rec["logprob"],
                    "top_logprobs": [{"token": engine.tok.decode([i]), "logprob": v} for i, v in rec.get("top", [])[: k or 0]]}

        def completions(self, body) -> Callable[[], None]:
            engine.need("causal")
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
            ids = engine.encode(prompt)
            if not ids:
                raise ApiError(400, "prompt must not be empty", "prompt", "invalid_value")
            engine.check_context(len(ids), s.max_tokens, "prompt")
            return lambda: self._completions(prompt, ids, s, k, echo, stream)

        def _completions(self, prompt: str, ids: list[int], s: Sampling, k: int | None, echo: bool, stream: bool):
            # echo with max_tokens 0 scores the prompt only (a tokenizer / membership-probe request)
            generate = s.max_tokens > 0
            cid, created = f"cmpl-{uuid.uuid4().hex[:24]}", _now()
            head = {"id": cid, "object": "text_completion", "created": created, "model": engine.name}
            p_toks, p_lps, p_tops, p_offs = [], [], [], []
            if echo and k is not None:
                pos = 0
                for rec, piece in zip(engine.prompt_logprobs(ids, k), engine.prompt_pieces(prompt, ids)):
                    p_offs.append(pos)
                    p_toks.append(piece)
                    p_lps.append(rec["logprob"])
                    p_tops.append(None if rec["top"] is None or k == 0 else
                                  {engine.tok.decode([i]): v for i, v in rec["top"][:k]})
                    pos += len(piece)
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
                    lp = {"tokens": toks[sent:], "token_logprobs": tlps[sent:], "top_logprobs": tops[sent:],
                          "text_offset": offs[sent:]}
                    sent = len(toks)
                    return lp

                if stream and echo:
                    self._sse({**head, "choices": [{"index": idx, "text": prompt, "logprobs": chunk_lp(), "finish_reason": None}]})
                steps = engine.stream_text(ids, s.for_choice(idx), max(k, 1) if k is not None else None, self._gone) \
                    if generate else iter([("", None, "length")])
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
                        self._sse({**head, "choices": [{"index": idx, "text": delta, "logprobs": chunk_lp(), "finish_reason": fin}]})
                lp = {"tokens": toks, "token_logprobs": tlps, "top_logprobs": tops, "text_offset": offs} if k is not None else None
                choices.append({"index": idx, "text": text, "logprobs": lp, "finish_reason": finish})
            if stream:
                return self._done()
            self._json(200, {**head, "choices": choices,
                             "usage": {"prompt_tokens": len(ids), "completion_tokens": n_out, "total_tokens": len(ids) + n_out}})

        def embeddings(self, body) -> Callable[[], None]:
            inp = body.get("input")
            items = [inp] if isinstance(inp, str) else inp
            if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
                raise ApiError(400, "input must be a string or an array of strings", "input", "invalid_type")
            if len(items) > 2048:
                raise ApiError(400, f"input holds {len(items)} strings; at most 2048 per request", "input", "invalid_value")
            layer = body.get("layer", engine.num_layers)
            if not _is_int(layer):
                raise ApiError(400, "layer must be an integer", "layer", "invalid_type")
            pooling = body.get("pooling", "mean")
            if pooling not in ("mean", "last"):
                raise ApiError(400, 'pooling must be "mean" or "last"', "pooling", "invalid_value")
            if _get(body, "encoding_format") not in (_MISSING, "float"):
                raise ApiError(400, 'encoding_format: only "float" is supported', "encoding_format", "invalid_value")
            try:
                layer_module(engine.model, layer)
            except GateError as e:
                raise ApiError(400, str(e), "layer", "invalid_value") from e
            all_ids = []
            for i, text in enumerate(items):
                ids = engine.encode(text)
                p = "input" if isinstance(inp, str) else f"input[{i}]"
                if not ids:
                    raise ApiError(400, f"{p} must not be empty", p, "invalid_value")
                engine.check_context(len(ids), 0, p)
                all_ids.append(ids)

            def run():
                data = []
                for i, ids in enumerate(all_ids):
                    if self._gone():
                        raise ClientGone
                    data.append({"object": "embedding", "index": i, "embedding": engine.embed(ids, layer, pooling)})
                n_tok = sum(len(x) for x in all_ids)
                self._json(200, {"object": "list", "data": data, "model": engine.name,
                                 "usage": {"prompt_tokens": n_tok, "total_tokens": n_tok}})
            return run

        def score(self, body) -> Callable[[], None]:
            engine.need("reward")
            items = body.get("items")
            if not isinstance(items, list) or not items:
                raise ApiError(400, "items must be a non-empty array of {prompt, response}", "items", "invalid_type")
            ctx = engine.context_length or 2048
            cutoff = int_param(body, "cutoff_len", 1, ctx, min(2048, ctx))
            seqs = []
            for i, it in enumerate(items):
                if not isinstance(it, dict) or not isinstance(it.get("response"), str):
                    raise ApiError(400, f"items[{i}] must be {{prompt: [messages], response: string}}", f"items[{i}]", "invalid_type")
                msgs = parse_messages(it.get("prompt"), f"items[{i}].prompt")
                seqs.append(engine.pair_ids(msgs, it["response"], cutoff))

            def run():
                scores = []
                for ids in seqs:
                    if self._gone():
                        raise ClientGone
                    scores.append(engine.score_ids(ids))
                self._json(200, {"object": "list", "model": engine.name, "scores": scores})
            return run

    return Handler


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # a burst of clients (one per queued request) must not be refused by the listen backlog
    request_queue_size = 128


def make_server(checkpoint: str, host: str = "127.0.0.1", port: int = 0, gate: str | None = None, name: str | None = None,
                limits: Limits | None = None):
    limits = limits or Limits()
    if limits.max_body_bytes < 1 or limits.max_queue < 0 or not limits.max_queue_wait > 0:
        raise ValueError("--max-body-bytes must be >= 1, --max-queue >= 0 and --max-queue-wait > 0")
    loopback = is_loopback_host(host)
    if not loopback and not limits.api_key:
        log(f"serve: warning: listening on {host or 'all interfaces'} without an API key: anyone who can reach this "
            f"port can use the model; pass --api-key or set {API_KEY_ENV}")
    engine = Engine(checkpoint, gate, name, limits=limits)

    class Server(_Server):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = Server((host, port), make_handler(engine, loopback))
    server.engine = engine  # type: ignore[attr-defined]
    return server


def main(checkpoint: str, host: str, port: int, gate: str | None, name: str | None, events: Events,
         api_key: str | None = None, max_body_bytes: int | None = None, max_queue: int | None = None,
         max_queue_wait: float | None = None, require_model: bool = False) -> int:
    d = Limits()
    limits = Limits(max_body_bytes=d.max_body_bytes if max_body_bytes is None else max_body_bytes,
                    max_queue=d.max_queue if max_queue is None else max_queue,
                    max_queue_wait=d.max_queue_wait if max_queue_wait is None else max_queue_wait,
                    api_key=api_key or os.environ.get(API_KEY_ENV) or None, require_model=require_model)
    try:
        server = make_server(checkpoint, host, port, gate, name, limits)
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
    events.emit("ready", url=url, model=eng.name, kind=eng.kind, gate=bool(eng.gate), auth=limits.api_key is not None)
    log(f"serving {checkpoint} at {url}")
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    events.emit("stopped", url=url)
    return 0
