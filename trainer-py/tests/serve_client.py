"""HTTP helpers for the serve tests: a server running in a thread, JSON calls, and raw sockets for what
urllib will not send (bad headers, a client that hangs up)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request

from sfmed_trainer.serve import Limits, make_server


class Running:
    def __init__(self, ckpt, gate=None, host="127.0.0.1", **limits):
        self.server = make_server(str(ckpt), host, 0, gate, limits=Limits(**limits))
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.t = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.t.start()

    @property
    def engine(self):
        return self.server.engine

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def call(url, path, body=None, headers=None, timeout=60):
    """(status, JSON body, headers) of a GET (body None) or a JSON POST."""
    h = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers=h,
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode()), e.headers


def send_raw(port: int, head: str, body: bytes = b"") -> socket.socket:
    """Open a connection and send a request head (CRLF line ends are added) and body; the caller reads or closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
    return s


def post_raw(port: int, path: str, body: dict) -> socket.socket:
    data = json.dumps(body).encode()
    return send_raw(
        port,
        f"POST {path} HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/json\nContent-Length: {len(data)}",
        data,
    )


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read to EOF (the server closes after each response) → (status, lower-cased headers, body)."""
    chunks = []
    while True:
        c = s.recv(65536)
        if not c:
            break
        chunks.append(c)
    s.close()
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return int(lines[0].split()[1]), hdrs, body
