"""OpenAI-compatible HTTP server over a local checkpoint (standard-library ThreadingHTTPServer).

Endpoints: GET /v1/models, /health; POST /v1/chat/completions (stream or not), /v1/completions (raw prompt,
greedy at temperature 0, optional logprobs, `echo` with the prompt's own token log-probs), /v1/embeddings
(extra params `layer`, `pooling`), /v1/score (reward model).

Requests are validated as OpenAI validates them (400 with `{"error": {message, type, param, code}}`) before
they queue. The model runs one request at a time (hooks and the gate's running state stay per request); the
others wait in a bounded FIFO queue (503 + Retry-After when it is full or a request waited too long), and a
client that disconnects stops its generation at the next token. See docs/serve.md for what is enforced.

The pieces live in server/: api (limits, errors, parameter checks), scheduler (the queue), engine (the
model), access (Host/Origin), http (transport), routes (the endpoints).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from http.server import ThreadingHTTPServer

from .events import Events, log
from .gate import GateError
from .server.access import host_header_ok, is_loopback_host, origin_ok
from .server.api import API_KEY_ENV, ApiError, ClientGone, Limits, Sampling, parse_messages, parse_sampling
from .server.engine import Engine
from .server.routes import Handler, make_handler
from .server.scheduler import Scheduler

__all__ = [
    "API_KEY_ENV",
    "ApiError",
    "ClientGone",
    "Engine",
    "Handler",
    "Limits",
    "Sampling",
    "Scheduler",
    "host_header_ok",
    "is_loopback_host",
    "main",
    "make_handler",
    "make_server",
    "origin_ok",
    "parse_messages",
    "parse_sampling",
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # a burst of clients (one per queued request) must not be refused by the listen backlog
    request_queue_size = 128


def make_server(
    checkpoint: str,
    host: str = "127.0.0.1",
    port: int = 0,
    gate: str | None = None,
    name: str | None = None,
    limits: Limits | None = None,
):
    limits = limits or Limits()
    if limits.max_body_bytes < 1 or limits.max_queue < 0 or not limits.max_queue_wait > 0:
        raise ValueError("--max-body-bytes must be >= 1, --max-queue >= 0 and --max-queue-wait > 0")
    loopback = is_loopback_host(host)
    if not loopback and not limits.api_key:
        log(
            f"serve: warning: listening on {host or 'all interfaces'} without an API key: anyone who can reach this "
            f"port can use the model; pass --api-key or set {API_KEY_ENV}"
        )
    engine = Engine(checkpoint, gate, name, limits=limits)

    class Server(_Server):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = Server((host, port), make_handler(engine, loopback))
    server.engine = engine  # type: ignore[attr-defined]
    return server


def main(
    checkpoint: str,
    host: str,
    port: int,
    gate: str | None,
    name: str | None,
    events: Events,
    api_key: str | None = None,
    max_body_bytes: int | None = None,
    max_queue: int | None = None,
    max_queue_wait: float | None = None,
    require_model: bool = False,
) -> int:
    d = Limits()
    limits = Limits(
        max_body_bytes=d.max_body_bytes if max_body_bytes is None else max_body_bytes,
        max_queue=d.max_queue if max_queue is None else max_queue,
        max_queue_wait=d.max_queue_wait if max_queue_wait is None else max_queue_wait,
        api_key=api_key or os.environ.get(API_KEY_ENV) or None,
        require_model=require_model,
    )
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
