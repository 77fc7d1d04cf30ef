"""The server's request vocabulary: its limits, the OpenAI-style error, and the parameter checks every route
runs before a request queues (400 with `{"error": {message, type, param, code}}`, as OpenAI answers)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

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
    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.param, self.code, self.headers = status, param, code, headers or {}

    @property
    def type(self) -> str:
        return "server_error" if self.status >= 500 else "invalid_request_error"


class ClientGone(Exception):
    """The client closed its connection: stop working on its request."""


MISSING = object()


def get_param(body: dict, key: str) -> Any:
    v = body.get(key, MISSING)
    return MISSING if v is None else v  # null means "default", as in OpenAI's API


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def int_param(body: dict, key: str, lo: int, hi: int | None, default: Any) -> Any:
    v = get_param(body, key)
    if v is MISSING:
        return default
    rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
    if not is_int(v):
        raise ApiError(400, f"{key} must be an integer {rng}, got {json.dumps(v)}", key, "invalid_type")
    if v < lo or (hi is not None and v > hi):
        raise ApiError(400, f"{key} must be an integer {rng}, got {v}", key, "invalid_value")
    return v


def num_param(body: dict, key: str, lo: float, hi: float, default: float, lo_open: bool = False) -> float:
    v = get_param(body, key)
    if v is MISSING:
        return default
    rng = f"{'>' if lo_open else '>='} {lo} and <= {hi}"
    if not is_num(v):
        raise ApiError(400, f"{key} must be a number {rng}, got {json.dumps(v)}", key, "invalid_type")
    if v < lo or v > hi or (lo_open and v == lo):
        raise ApiError(400, f"{key} must be a number {rng}, got {v}", key, "invalid_value")
    return float(v)


def bool_param(body: dict, key: str, default: bool = False) -> bool:
    v = get_param(body, key)
    if v is MISSING:
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
    key = "max_tokens" if get_param(body, "max_tokens") is not MISSING else "max_completion_tokens"
    mt = get_param(body, key)
    if mt is not MISSING and is_int(mt) and mt < min_tokens:
        why = " (0 only with echo on /v1/completions)" if min_tokens == 1 else ""
        raise ApiError(400, f"{key} must be >= {min_tokens}{why}, got {mt}", key, "invalid_value")
    max_tokens = int_param(body, key, min_tokens, None, 16)
    temperature = num_param(body, "temperature", 0, 2, 1.0)
    top_p = num_param(body, "top_p", 0, 1, 1.0, lo_open=True)
    for k in ("presence_penalty", "frequency_penalty"):  # accepted for compatibility, not applied
        num_param(body, k, -2, 2, 0.0)
    stop = get_param(body, "stop")
    if stop is MISSING:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise ApiError(400, "stop must be a string or an array of at most 4 strings", "stop", "invalid_type")
    seed = get_param(body, "seed")
    if seed is MISSING:
        seed = None
    elif not is_int(seed) or not -(2**63) <= seed < 2**64:
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
            raise ApiError(
                400,
                f'{p}.role must be "system", "user" or "assistant", got {json.dumps(role)}',
                f"{p}.role",
                "invalid_value",
            )
        c = m.get("content")
        if isinstance(c, list):
            if not all(isinstance(x, dict) and x.get("type") == "text" and isinstance(x.get("text"), str) for x in c):
                raise ApiError(
                    400,
                    f'{p}.content: only parts {{"type": "text", "text": string}} are supported',
                    f"{p}.content",
                    "invalid_type",
                )
            c = "".join(x["text"] for x in c)
        if not isinstance(c, str):
            raise ApiError(
                400, f"{p}.content must be a string or an array of text parts", f"{p}.content", "invalid_type"
            )
        out.append({"role": role, "content": c})
    return out
