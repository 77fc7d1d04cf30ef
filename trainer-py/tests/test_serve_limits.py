"""serve refuses what OpenAI's API refuses: bad parameters, over-long requests, bad bodies, missing or wrong API
keys, and (on a loopback bind) requests addressed to another host name."""

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import TRAINER
from serve_client import Running, call, read_response, send_raw

from sfmed_trainer.serve import ApiError, host_header_ok, is_loopback_host, make_server, origin_ok

CHAT = {"messages": [{"role": "user", "content": "fever?"}], "max_tokens": 3, "temperature": 0}
COMP = {"prompt": "The patient has a fever", "max_tokens": 3, "temperature": 0}


@pytest.fixture(scope="module")
def lm(models_dir):
    r = Running(models_dir["sft"], max_body_bytes=16384)
    yield r
    r.close()


BAD = [
    # (path, body changes, param named in the error)
    ("/v1/chat/completions", {"temperature": -0.1}, "temperature"),
    ("/v1/chat/completions", {"temperature": 2.5}, "temperature"),
    ("/v1/chat/completions", {"temperature": "1"}, "temperature"),
    ("/v1/chat/completions", {"top_p": 0}, "top_p"),
    ("/v1/chat/completions", {"top_p": 1.5}, "top_p"),
    ("/v1/chat/completions", {"max_tokens": 0}, "max_tokens"),
    ("/v1/chat/completions", {"max_tokens": 2.5}, "max_tokens"),
    ("/v1/chat/completions", {"max_tokens": "5"}, "max_tokens"),
    ("/v1/chat/completions", {"max_tokens": True}, "max_tokens"),
    ("/v1/chat/completions", {"max_tokens": None, "max_completion_tokens": -1}, "max_completion_tokens"),
    ("/v1/chat/completions", {"n": 0}, "n"),
    ("/v1/chat/completions", {"n": 129}, "n"),
    ("/v1/chat/completions", {"n": 1.0}, "n"),
    ("/v1/chat/completions", {"stop": 5}, "stop"),
    ("/v1/chat/completions", {"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ("/v1/chat/completions", {"stop": ["a", 1]}, "stop"),
    ("/v1/chat/completions", {"seed": "1"}, "seed"),
    ("/v1/chat/completions", {"seed": 1.5}, "seed"),
    ("/v1/chat/completions", {"seed": 2**64}, "seed"),
    ("/v1/chat/completions", {"logprobs": "yes"}, "logprobs"),
    ("/v1/chat/completions", {"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ("/v1/chat/completions", {"top_logprobs": 2}, "top_logprobs"),
    ("/v1/chat/completions", {"stream": "yes"}, "stream"),
    ("/v1/chat/completions", {"presence_penalty": 3}, "presence_penalty"),
    ("/v1/chat/completions", {"model": 5}, "model"),
    ("/v1/chat/completions", {"messages": "hi"}, "messages"),
    ("/v1/chat/completions", {"messages": None}, "messages"),
    ("/v1/chat/completions", {"messages": [1]}, "messages[0]"),
    ("/v1/chat/completions", {"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role"),
    (
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": 5}]},
        "messages[1].content",
    ),
    (
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "messages[0].content",
    ),
    ("/v1/completions", {"prompt": None}, "prompt"),
    ("/v1/completions", {"prompt": 5}, "prompt"),
    ("/v1/completions", {"prompt": ["a", "b"]}, "prompt"),
    ("/v1/completions", {"prompt": ""}, "prompt"),
    ("/v1/completions", {"logprobs": 6}, "logprobs"),
    ("/v1/completions", {"logprobs": True}, "logprobs"),
    ("/v1/completions", {"echo": "x"}, "echo"),
    ("/v1/completions", {"echo": True, "max_tokens": -1}, "max_tokens"),
    ("/v1/embeddings", {"input": ""}, "input"),
    ("/v1/embeddings", {"input": ["ok", 1]}, "input"),
    ("/v1/embeddings", {"input": "ok", "encoding_format": "base64"}, "encoding_format"),
    ("/v1/embeddings", {"input": "ok", "layer": "1"}, "layer"),
]


@pytest.mark.parametrize("path,change,param", BAD, ids=[f"{p.split('/')[-1]}-{json.dumps(c)[:40]}" for p, c, _ in BAD])
def test_bad_parameters_are_400_naming_the_param(lm, path, change, param):
    base = CHAT if "chat" in path else COMP if path == "/v1/completions" else {}
    st, b, _ = call(lm.url, path, {**base, **change})
    assert st == 400, b
    err = b["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and err["code"] and err["message"]


def test_valid_edge_values_are_served(lm):
    for change in (
        {"temperature": 2, "top_p": 1, "seed": -(2**63)},
        {"temperature": 0, "top_p": 0.01},
        {"stop": ["a", "b", "c", "d"], "seed": 2**64 - 1},
        {"stop": None, "n": None, "temperature": None},
        {"logprobs": True, "top_logprobs": 20},
        {"presence_penalty": -2, "frequency_penalty": 2},
        {
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}]},
                {"role": "user", "content": "fever?"},
            ]
        },
    ):
        st, b, _ = call(lm.url, "/v1/chat/completions", {**CHAT, **change})
        assert st == 200, (change, b)
    assert call(lm.url, "/v1/completions", {**COMP, "echo": True, "max_tokens": 0, "logprobs": 5})[0] == 200


def test_n_choices_and_stop_list(lm):
    body = {**COMP, "max_tokens": 6, "temperature": 1.0, "seed": 11}
    st, b, _ = call(lm.url, "/v1/completions", {**body, "n": 3})
    assert st == 200 and [c["index"] for c in b["choices"]] == [0, 1, 2]
    one = call(lm.url, "/v1/completions", body)[1]["choices"][0]["text"]
    assert b["choices"][0]["text"] == one  # choice 0 of n is the n = 1 answer under the same seed
    assert b["usage"]["completion_tokens"] >= 3
    st, c, _ = call(lm.url, "/v1/chat/completions", {**CHAT, "max_tokens": 4, "n": 2, "temperature": 1.0, "seed": 3})
    assert st == 200 and len(c["choices"]) == 2
    # a stop string cuts the text before it, also when it spans tokens and the text before it was streamed
    greedy = call(lm.url, "/v1/completions", {**COMP, "max_tokens": 12})[1]["choices"][0]["text"]
    assert len(greedy) >= 4
    for cut in {greedy[1:3], greedy[-3:-1], greedy[:2]}:
        want = greedy[: greedy.index(cut)]
        got = call(lm.url, "/v1/completions", {**COMP, "max_tokens": 12, "stop": ["\u2603", cut]})[1]["choices"][0]
        assert got["text"] == want and got["finish_reason"] == "stop", cut
        st, raw, _ = call_stream(lm.url, "/v1/completions", {**COMP, "max_tokens": 12, "stop": [cut], "stream": True})
        assert "".join(p["choices"][0]["text"] for p in raw) == want
    # a held-back prefix of a stop string that never completes is sent at the end
    never = greedy[-1] + "\u2603"
    got = call(lm.url, "/v1/completions", {**COMP, "max_tokens": 12, "stop": [never]})[1]["choices"][0]
    assert got["text"] == greedy
    st, raw, _ = call_stream(lm.url, "/v1/completions", {**COMP, "max_tokens": 12, "stop": [never], "stream": True})
    assert "".join(p["choices"][0]["text"] for p in raw) == greedy


def call_stream(url, path, body):
    import urllib.request

    req = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        lines = r.read().decode().split("\n")
    parts = [json.loads(l[6:]) for l in lines if l.startswith("data: ") and l != "data: [DONE]"]
    return r.status, parts, None


def test_context_length_is_enforced(lm):
    ctx = lm.engine.context_length
    assert ctx == 1024  # conftest's tiny model
    st, b, _ = call(lm.url, "/v1/chat/completions", {**CHAT, "max_tokens": 2000})
    n = len(lm.engine.encode(lm.engine.render(CHAT["messages"])))
    assert st == 400 and b["error"]["code"] == "context_length_exceeded" and b["error"]["param"] == "messages"
    assert (
        "1024" in b["error"]["message"]
        and f"{n} prompt tokens" in b["error"]["message"]
        and "2000" in b["error"]["message"]
    )
    long = "fever cough " * 600
    assert len(lm.engine.encode(long)) > ctx
    for path, body in (
        ("/v1/completions", {"prompt": long, "echo": True, "max_tokens": 0, "logprobs": 0}),
        ("/v1/embeddings", {"input": ["ok", long]}),
    ):
        st, b, _ = call(lm.url, path, body)
        assert st == 400 and b["error"]["code"] == "context_length_exceeded", b
    assert b["error"]["param"] == "input[1]"
    # exactly at the limit passes, one token over does not
    eng = lm.engine
    eng.check_context(ctx - 24, 24, "prompt")
    with pytest.raises(ApiError) as e:
        eng.check_context(ctx - 24, 25, "prompt")
    assert e.value.status == 400 and f"{ctx - 24} prompt tokens + max_tokens 25 = {ctx + 1}" in str(e.value)
    k = max(k for k in range(1, 600) if len(eng.encode("fever cough " * k)) <= ctx)
    assert call(lm.url, "/v1/completions", {"prompt": "fever cough " * k, "echo": True, "max_tokens": 0})[0] == 200
    assert (
        call(lm.url, "/v1/completions", {"prompt": "fever cough " * (k + 1), "echo": True, "max_tokens": 0})[0] == 400
    )


def _raw(lm, head, body=b""):
    return read_response(send_raw(lm.port, head, body))


def test_body_content_type_and_length(lm):
    host = f"Host: 127.0.0.1:{lm.port}"
    body = json.dumps(COMP).encode()
    ok = _raw(lm, f"POST /v1/completions HTTP/1.1\n{host}\nContent-Length: {len(body)}", body)
    assert ok[0] == 200  # no Content-Type: taken as JSON
    st, h, b = _raw(
        lm, f"POST /v1/completions HTTP/1.1\n{host}\nContent-Type: text/plain\nContent-Length: {len(body)}", body
    )
    assert st == 415 and json.loads(b)["error"]["code"] == "unsupported_media_type"
    st, _, b = _raw(
        lm,
        f"POST /v1/completions HTTP/1.1\n{host}\nContent-Type: application/json; charset=utf-8\nContent-Length: {len(body)}",
        body,
    )
    assert st == 200
    st, _, b = _raw(lm, f"POST /v1/completions HTTP/1.1\n{host}\nContent-Type: application/json", body)
    assert st == 411 and json.loads(b)["error"]["code"] == "length_required"
    for cl in ("abc", "-5", "1e3"):
        st, _, b = _raw(
            lm, f"POST /v1/completions HTTP/1.1\n{host}\nContent-Type: application/json\nContent-Length: {cl}", body
        )
        assert st == 400 and json.loads(b)["error"]["code"] == "invalid_content_length", cl
    st, _, b = _raw(lm, f"POST /v1/completions HTTP/1.1\n{host}\nContent-Length: {len(body)}\nContent-Length: 3", body)
    assert st == 400
    for bad in (b'{"prompt": ', b"[1, 2]", b'{"prompt": "x", "temperature": NaN}', b'{"prompt": "\xff"}'):
        st, _, b = _raw(lm, f"POST /v1/completions HTTP/1.1\n{host}\nContent-Length: {len(bad)}", bad)
        assert st == 400 and json.loads(b)["error"]["code"] == "invalid_json", bad
    # over --max-body-bytes (16384 here): 413 naming the limit, read from a client that sends it all
    big = json.dumps({**COMP, "prompt": "x" * 20000}).encode()
    st, _, b = _raw(
        lm, f"POST /v1/completions HTTP/1.1\n{host}\nContent-Type: application/json\nContent-Length: {len(big)}", big
    )
    assert st == 413 and "16384" in json.loads(b)["error"]["message"]
    st, _, b = _raw(lm, f"POST /v1/completions HTTP/1.1\n{host}\nContent-Length: 999999999")
    assert st == 413
    # methods and routes
    assert call(lm.url, "/v1/completions")[0] == 405
    assert call(lm.url, "/v1/models", {})[0] == 405
    assert _raw(lm, f"DELETE /v1/models HTTP/1.1\n{host}")[0] == 405
    assert call(lm.url, "/v1/nothing", {})[0] == 404


def test_loopback_names():
    assert all(
        is_loopback_host(h)
        for h in ("localhost", "LOCALHOST.", "api.localhost", "127.0.0.1", "127.3.2.1", "::1", "[::1]")
    )
    assert not any(
        is_loopback_host(h) for h in ("0.0.0.0", "10.0.0.1", "example.com", "localhost.example.com", "::", "")
    )
    assert (
        host_header_ok("localhost:8000", 8000)
        and host_header_ok("[::1]:8000", 8000)
        and host_header_ok("127.0.0.1", 8000)
    )
    assert host_header_ok(None, 8000)
    assert not host_header_ok("127.0.0.1:8001", 8000) and not host_header_ok("evil.example:8000", 8000)
    assert not host_header_ok("localhost:x", 8000) and not host_header_ok("", 8000)
    assert origin_ok(None) and origin_ok("http://localhost:3000") and origin_ok("https://127.0.0.1")
    assert not origin_ok("null") and not origin_ok("http://evil.example") and not origin_ok("file://")


def test_loopback_bind_refuses_other_host_names(lm):
    p = lm.port
    assert call(lm.url, "/v1/models", headers={"Host": f"localhost:{p}"})[0] == 200
    for h in (
        {"Host": f"evil.example:{p}"},
        {"Host": f"127.0.0.1:{p + 1}"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
    ):
        st, b, _ = call(lm.url, "/v1/models", headers=h)
        assert st == 403 and b["error"]["code"] == "forbidden_host", h
        assert call(lm.url, "/v1/completions", COMP, headers=h)[0] == 403
    assert call(lm.url, "/v1/completions", COMP, headers={"Origin": "http://localhost:5173"})[0] == 200


def test_api_key(models_dir, capfd):
    key = "sk-test-0123456789abcdef"
    r = Running(models_dir["sft"], api_key=key)
    try:
        for h in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {key}"},
            {"Authorization": "Bearer "},
            {"Authorization": f"Bearer {key}x"},
        ):
            for path, body in (("/v1/models", None), ("/v1/completions", COMP)):
                st, b, hd = call(r.url, path, body, headers=h)
                assert st == 401 and b["error"]["code"] == "invalid_api_key" and hd["WWW-Authenticate"] == "Bearer", (
                    h,
                    path,
                )
        auth = {"Authorization": f"Bearer {key}"}
        assert call(r.url, "/v1/models", headers=auth)[0] == 200
        assert call(r.url, "/v1/completions", COMP, headers=auth)[0] == 200
        assert call(r.url, "/health")[0] == 200  # liveness stays open; it tells nothing about the model
        assert (
            call(r.url, "/v1/models", headers={**auth, "Host": "evil.example"})[0] == 403
        )  # a key does not lift the Host check
    finally:
        r.close()
    out, err = capfd.readouterr()
    assert "POST /v1/completions" in err and key not in err and key not in out


def test_non_loopback_bind_warns_without_key(models_dir, capfd):
    s = make_server(str(models_dir["sft"]), "0.0.0.0", 0)
    s.server_close()
    assert "without an API key" in capfd.readouterr().err
    r = Running(models_dir["sft"], host="0.0.0.0", api_key="k")
    try:
        assert "without an API key" not in capfd.readouterr().err
        # no Host check off loopback: the key is the guard there
        assert call(r.url, "/v1/models", headers={"Authorization": "Bearer k", "Host": "gpu-box.internal"})[0] == 200
    finally:
        r.close()


def test_require_model(models_dir):
    r = Running(models_dir["sft"], require_model=True)
    try:
        st, b, _ = call(r.url, "/v1/completions", COMP)
        assert st == 400 and b["error"]["param"] == "model" and b["error"]["code"] == "missing_required_parameter"
        assert call(r.url, "/v1/completions", {**COMP, "model": "sft"})[0] == 200
    finally:
        r.close()


def test_process_flags_and_key_from_env(models_dir):
    key = "env-key-98765"
    env = {**os.environ, "PYTHONPATH": str(TRAINER), "OMP_NUM_THREADS": "1", "SFMED_SERVE_API_KEY": key}
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sfmed_trainer",
            "serve",
            str(models_dir["sft"]),
            "--max-queue",
            "0",
            "--max-body-bytes",
            "100",
            "--require-model",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = p.stdout.readline()
        ready = json.loads(line)
        assert ready["event"] == "ready" and ready["auth"] is True and key not in line
        assert call(ready["url"], "/v1/models")[0] == 401
        auth = {"Authorization": f"Bearer {key}"}
        assert call(ready["url"], "/v1/models", headers=auth)[0] == 200
        assert call(ready["url"], "/v1/completions", {"model": "sft", "prompt": "x" * 200}, headers=auth)[0] == 413
        assert call(ready["url"], "/v1/completions", {"prompt": "x"}, headers=auth)[1]["error"]["param"] == "model"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
    assert key not in p.stderr.read()
    bad = subprocess.run(
        [sys.executable, "-m", "sfmed_trainer", "serve", str(models_dir["sft"]), "--max-queue-wait", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and "--max-queue-wait" in bad.stderr
