"""The model runs one request at a time; the others wait in a bounded FIFO queue (503 + Retry-After when it is
full or a request waited too long), and a request whose client left gives up its place."""

from __future__ import annotations

import collections
import math
import threading
import time
from contextlib import contextmanager
from typing import Callable

from .api import ApiError, ClientGone


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
                    raise self._busy_error(
                        f"the server is busy: {len(self.waiting)} requests are already waiting "
                        f"(--max-queue {self.max_queue}); retry later",
                        "queue_full",
                    )
                ticket = object()
                self.waiting.append(ticket)
                deadline = time.monotonic() + self.max_wait
                try:
                    while self.busy or self.waiting[0] is not ticket:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise self._busy_error(
                                f"the request waited {self.max_wait:g} s for the model (--max-queue-wait); retry later",
                                "queue_timeout",
                            )
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
