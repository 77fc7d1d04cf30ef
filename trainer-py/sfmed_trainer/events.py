"""JSON-lines events on stdout (one object per line, schema in EVENTS.md); human logs go to stderr."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
import traceback
from typing import Any, TextIO

EVENTS_VERSION = 1
_lock = threading.Lock()


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN/Infinity
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and callable(v.item):
        return _clean(v.item())
    return v


class Events:
    """Writes events to `out` (stdout by default). Only rank 0 emits under torch.distributed."""

    def __init__(self, out: TextIO | None = None, enabled: bool = True):
        self.out = out or sys.stdout
        self.enabled = enabled

    def emit(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        rec = {"v": EVENTS_VERSION, "event": event, "time": round(time.time(), 3), **_clean(fields)}
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
        with _lock:
            self.out.write(line + "\n")
            self.out.flush()

    def error(self, exc: BaseException) -> None:
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        short = "".join(tb[-3:])[-2000:]
        self.emit("error", type=type(exc).__name__, message=str(exc), traceback=short)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
