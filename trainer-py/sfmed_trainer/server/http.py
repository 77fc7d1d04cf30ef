"""The HTTP side of the server: access checks (loopback Host/Origin, API key), bounded request bodies, routing,
JSON and server-sent-event responses, and turning errors into OpenAI-style answers. The routes themselves are
in routes.py."""

from __future__ import annotations

import hmac
import json
import select
import socket
from http.server import BaseHTTPRequestHandler
from typing import Any

from ..events import log
from .access import host_header_ok, origin_ok
from .api import ApiError, ClientGone, Limits
from .engine import Engine, now

_POST_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/score")
_GET_ROUTES = ("/v1/models", "/health", "")


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class Transport(BaseHTTPRequestHandler):
    """Request handling up to the routes (chat, completions, embeddings, score), which a subclass defines."""

    server_version = "sfmed-trainer"
    engine: Engine  # set by make_handler
    loopback = True
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
        if self.loopback and not (
            host_header_ok(self.headers.get("Host"), self.server.server_address[1])
            and origin_ok(self.headers.get("Origin"))
        ):
            raise ApiError(
                403,
                "this server is bound to loopback and only answers requests addressed to "
                "localhost (Host/Origin header refused)",
                None,
                "forbidden_host",
            )
        if self.limits.api_key is None or path in ("", "/health"):
            return
        auth = self.headers.get("Authorization") or ""
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(
                401,
                "missing API key: send Authorization: Bearer <key>",
                None,
                "invalid_api_key",
                {"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(given.strip().encode("utf-8"), self.limits.api_key.encode("utf-8")):
            raise ApiError(401, "incorrect API key", None, "invalid_api_key", {"WWW-Authenticate": "Bearer"})

    def _drain(self, n: int):
        """Read and drop up to n body bytes (bounded), so the client sees our error instead of a reset."""
        self.close_connection = True
        try:
            self.connection.settimeout(1.0)
            left = min(n, 4 * self.limits.max_body_bytes)
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
        if n > self.limits.max_body_bytes:
            self._drain(n)
            raise ApiError(
                413,
                f"request body is {n} bytes; the limit is {self.limits.max_body_bytes} (--max-body-bytes)",
                None,
                "request_too_large",
            )
        if ctype is not None:
            mt = ctype.split(";")[0].strip().lower()
            if mt != "application/json" and not mt.endswith("+json"):
                self._drain(n)
                raise ApiError(
                    415, f"Content-Type must be application/json, got {ctype[:60]!r}", None, "unsupported_media_type"
                )
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
                    raise ApiError(
                        405,
                        f"{method} {path} is not allowed; use {'POST' if method == 'GET' else 'GET'}",
                        None,
                        "method_not_allowed",
                        {"Allow": "POST" if method == "GET" else "GET"},
                    )
                raise ApiError(404, f"no route {method} {self.path}", None, "not_found")
            if method == "GET":
                return self._get(path)
            body = self._body()
            self.engine.check_model(body)
            job = {
                "/v1/chat/completions": self.chat,
                "/v1/completions": self.completions,
                "/v1/embeddings": self.embeddings,
                "/v1/score": self.score,
            }[path](body)
            with self.engine.sched.slot(self._gone):
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
        self._json(
            405,
            {
                "error": {
                    "message": f"method {self.command} is not allowed",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "method_not_allowed",
                }
            },
            {"Allow": "GET, POST"},
        )

    do_PUT = do_DELETE = do_PATCH = _not_allowed

    def _get(self, path: str):
        if path == "/v1/models":
            return self._json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": self.engine.name,
                            "object": "model",
                            "created": now(),
                            "owned_by": "sfmed",
                            "kind": self.engine.kind,
                            "num_layers": self.engine.num_layers,
                            "hidden_size": self.engine.hidden_size,
                            "context_length": self.engine.context_length,
                            "gate": None
                            if not self.engine.gate
                            else {
                                "layer": self.engine.gate.layer,
                                "threshold": self.engine.gate.threshold,
                                "entries": int(self.engine.gate.entries.shape[0]),
                            },
                        }
                    ],
                },
            )
        s = self.engine.sched
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

    @property
    def limits(self) -> Limits:
        return self.engine.limits
