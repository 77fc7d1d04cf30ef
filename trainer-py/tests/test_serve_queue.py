"""No starvation: a long generation does not block /health or /v1/models, the wait queue is bounded (503 +
Retry-After when full or after --max-queue-wait), and a client that hangs up frees the model at the next token.
The tiny model is slowed down by a forward pre-hook so that one request takes seconds."""

import json
import threading
import time

import pytest

from serve_client import Running, call, post_raw, read_response

from sfmed_trainer.serve import ApiError, Scheduler

DELAY = 0.02  # seconds per forward
LONG = {"prompt": "The patient has a fever", "max_tokens": 500, "temperature": 0}  # ≥ 10 s on the model
SHORT = {"prompt": "The patient has a fever", "max_tokens": 3, "temperature": 0}


class Slow:
    """Counts forwards and sleeps in each."""

    def __init__(self, engine):
        self.calls = 0
        engine.stop_ids = set()  # never end early on EOS: the long request really is long
        engine.model.register_forward_pre_hook(self)

    def __call__(self, module, args):
        self.calls += 1
        time.sleep(DELAY)


def wait_until(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def health(r):
    return call(r.url, "/health")[1]


@pytest.fixture(scope="module")
def slow(models_dir):
    r = Running(models_dir["sft"], max_queue=1, max_queue_wait=30)
    r.slow = Slow(r.engine)
    yield r
    r.close()


@pytest.fixture(scope="module")
def impatient(models_dir):
    r = Running(models_dir["sft"], max_queue=4, max_queue_wait=0.5)
    r.slow = Slow(r.engine)
    yield r
    r.close()


def start_long(r, path="/v1/completions", body=LONG):
    s = post_raw(r.port, path, body)
    before = r.slow.calls
    assert wait_until(lambda: r.slow.calls > before + 2), "the long request never reached the model"
    return s


def test_long_request_does_not_block_health_or_models(slow):
    a = start_long(slow)
    try:
        t0 = time.monotonic()
        st, models, _ = call(slow.url, "/v1/models")
        h = health(slow)
        assert st == 200 and models["data"][0]["id"] == "sft"
        assert h["busy"] is True
        assert time.monotonic() - t0 < 2.0  # 500 forwards × 20 ms would be 10 s
    finally:
        a.close()
    assert wait_until(lambda: not health(slow)["busy"], 5)


def test_full_queue_is_503_with_retry_after_and_a_disconnect_frees_the_model(slow):
    a = start_long(slow)
    b = post_raw(slow.port, "/v1/completions", SHORT)
    assert wait_until(lambda: health(slow)["queued"] == 1)
    t0 = time.monotonic()
    st, body, hdrs = call(slow.url, "/v1/completions", SHORT)
    assert st == 503 and time.monotonic() - t0 < 2.0
    assert body["error"]["code"] == "queue_full" and body["error"]["type"] == "server_error"
    assert 1 <= int(hdrs["Retry-After"]) <= 60
    # the client of the running request hangs up: its generation stops and the queued one is served at once
    calls = slow.slow.calls
    t0 = time.monotonic()
    a.close()
    st, _, raw = read_response(b)
    assert st == 200 and json.loads(raw)["usage"]["completion_tokens"] == 3
    assert time.monotonic() - t0 < 4.0
    assert slow.slow.calls - calls < 100  # the long one stopped far short of its 500 tokens
    assert wait_until(lambda: health(slow) == {"ok": True, "busy": False, "queued": 0}, 5)


def test_streaming_client_that_hangs_up_frees_the_model(slow):
    a = post_raw(
        slow.port,
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "fever?"}], "max_tokens": 500, "temperature": 0, "stream": True},
    )
    first = a.recv(4096)
    assert first.startswith(b"HTTP/1.0 200") and b"text/event-stream" in first
    a.close()
    t0 = time.monotonic()
    st, body, _ = call(slow.url, "/v1/completions", SHORT)
    assert st == 200 and time.monotonic() - t0 < 4.0


def test_a_waiting_client_that_hangs_up_leaves_the_queue(slow):
    a = start_long(slow)
    try:
        b = post_raw(slow.port, "/v1/completions", SHORT)
        assert wait_until(lambda: health(slow)["queued"] == 1)
        b.close()
        assert wait_until(lambda: health(slow)["queued"] == 0, 3)
        assert health(slow)["busy"] is True  # the long one is still running
    finally:
        a.close()
    assert wait_until(lambda: not health(slow)["busy"], 5)


def test_queue_wait_limit_is_503(impatient):
    a = start_long(impatient)
    try:
        t0 = time.monotonic()
        st, body, hdrs = call(impatient.url, "/v1/completions", SHORT)
        waited = time.monotonic() - t0
        assert st == 503 and body["error"]["code"] == "queue_timeout" and int(hdrs["Retry-After"]) >= 1
        assert 0.5 <= waited < 3.0
    finally:
        a.close()
    assert wait_until(lambda: not health(impatient)["busy"], 5)
    assert call(impatient.url, "/v1/completions", SHORT)[0] == 200


def test_requests_are_served_in_arrival_order():
    """FIFO: three requests queued behind a long one run in the order they came; a fourth finds the queue full."""
    s = Scheduler(max_queue=3, max_wait=10)
    order, started = [], threading.Event()

    def job(i, hold=0.0):
        with s.slot():
            if hold:
                started.set()
                time.sleep(hold)
            order.append(i)

    first = threading.Thread(target=job, args=(0, 0.3))
    first.start()
    started.wait(5)
    ts = []
    for i in (1, 2, 3):
        t = threading.Thread(target=job, args=(i,))
        t.start()
        assert wait_until(lambda: len(s.waiting) == i, 2)
        ts.append(t)
    with pytest.raises(ApiError) as e:
        with s.slot():
            pass
    assert e.value.status == 503 and e.value.code == "queue_full" and "Retry-After" in e.value.headers
    for t in [first, *ts]:
        t.join(5)
    assert order == [0, 1, 2, 3]
