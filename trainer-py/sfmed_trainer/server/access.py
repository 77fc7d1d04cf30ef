"""Who may talk to the server: a loopback-bound server answers only requests addressed to localhost (Host and
Origin checked, against DNS rebinding)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


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
