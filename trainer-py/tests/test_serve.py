import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import torch

from conftest import TRAINER

from serve_client import Running


def call(url, path, body=None, raw=False):
    req = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            data = r.read().decode()
            return r.status, (data if raw else json.loads(data))
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


@pytest.fixture(scope="module")
def lm(models_dir):
    r = Running(models_dir["sft"])
    yield r
    r.close()


@pytest.fixture(scope="module")
def rm(models_dir, tmp_path_factory):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    d = tmp_path_factory.mktemp("rm")
    torch.manual_seed(0)
    m = AutoModelForSequenceClassification.from_pretrained(models_dir["sft"], num_labels=1)
    m.save_pretrained(d)
    AutoTokenizer.from_pretrained(models_dir["sft"]).save_pretrained(d)
    r = Running(d)
    yield r
    r.close()


def test_models(lm):
    st, b = call(lm.url, "/v1/models")
    assert st == 200 and b["object"] == "list" and b["data"][0]["id"] == "sft" and b["data"][0]["num_layers"] == 2


def test_chat_completions_stream_and_not(lm):
    body = {"model": "sft", "messages": [{"role": "user", "content": "fever?"}], "temperature": 0, "max_tokens": 12}
    st, b = call(lm.url, "/v1/chat/completions", body)
    assert st == 200 and b["object"] == "chat.completion"
    ch = b["choices"][0]
    assert ch["message"]["role"] == "assistant" and ch["finish_reason"] in ("stop", "length")
    assert b["usage"]["completion_tokens"] >= 1
    st, raw = call(lm.url, "/v1/chat/completions", {**body, "stream": True}, raw=True)
    assert st == 200
    chunks = [l[6:] for l in raw.split("\n") if l.startswith("data: ")]
    assert chunks[-1] == "[DONE]"
    parts = [json.loads(c) for c in chunks[:-1]]
    assert all(p["object"] == "chat.completion.chunk" for p in parts)
    text = "".join(p["choices"][0]["delta"].get("content", "") for p in parts)
    assert text == ch["message"]["content"]
    assert parts[-1]["choices"][0]["finish_reason"] == ch["finish_reason"]
    # sampling with a seed is reproducible
    s1 = call(lm.url, "/v1/chat/completions", {**body, "temperature": 1.0, "seed": 5})[1]
    s2 = call(lm.url, "/v1/chat/completions", {**body, "temperature": 1.0, "seed": 5})[1]
    assert s1["choices"][0]["message"]["content"] == s2["choices"][0]["message"]["content"]


def test_completions_greedy_logprobs_match_model(lm):
    prompt = "The patient has a fever"
    st, b = call(lm.url, "/v1/completions", {"prompt": prompt, "temperature": 0, "max_tokens": 5, "logprobs": 3})
    assert st == 200
    lp = b["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == b["usage"]["completion_tokens"]
    eng = lm.engine
    ids = torch.tensor([eng.encode(prompt)])
    with torch.no_grad():
        logits = eng.model(input_ids=ids).logits[0, -1]
    ref = torch.log_softmax(logits.float(), -1)
    assert lp["token_logprobs"][0] == pytest.approx(ref.max().item(), abs=1e-4)
    assert eng.tok.decode([int(ref.argmax())]) == lp["tokens"][0]
    assert max(lp["top_logprobs"][0].values()) == pytest.approx(lp["token_logprobs"][0], abs=1e-6)
    assert b["choices"][0]["text"].startswith(lp["tokens"][0])


def test_completions_echo_scores_the_prompt(lm):
    """echo: the prompt's tokens come back with log p(token | prefix) from one forward pass (the first has
    none), they rebuild the prompt, and generation continues after it exactly as without echo."""
    prompt = "The patient has a fever and a cough"
    eng = lm.engine
    ids = eng.encode(prompt)
    st, b = call(lm.url, "/v1/completions", {"prompt": prompt, "echo": True, "max_tokens": 0, "logprobs": 2})
    assert st == 200
    ch = b["choices"][0]
    lp = ch["logprobs"]
    assert ch["text"] == prompt and "".join(lp["tokens"]) == prompt and len(lp["tokens"]) == len(ids)
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
    assert lp["text_offset"] == [sum(len(t) for t in lp["tokens"][:i]) for i in range(len(ids))]
    with torch.no_grad():
        ref = torch.log_softmax(eng.model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    want = [ref[i - 1, ids[i]].item() for i in range(1, len(ids))]
    assert lp["token_logprobs"][1:] == pytest.approx(want, abs=1e-5)
    assert all(
        len(t) == 2 and max(t.values()) >= lp["token_logprobs"][i + 1] - 1e-6
        for i, t in enumerate(lp["top_logprobs"][1:])
    )
    assert b["usage"]["completion_tokens"] == 0
    plain = call(lm.url, "/v1/completions", {"prompt": prompt, "temperature": 0, "max_tokens": 4, "logprobs": 0})[1]
    both = call(
        lm.url, "/v1/completions", {"prompt": prompt, "temperature": 0, "max_tokens": 4, "logprobs": 0, "echo": True}
    )[1]
    gen = plain["choices"][0]
    ch = both["choices"][0]
    assert ch["text"] == prompt + gen["text"]
    n = len(ids)
    assert ch["logprobs"]["tokens"][n:] == gen["logprobs"]["tokens"]
    assert ch["logprobs"]["text_offset"][n:] == [o + len(prompt) for o in gen["logprobs"]["text_offset"]]
    # Chinese through the byte-level tokenizer: characters split over byte tokens still rebuild the prompt
    zh = "患者发热三天，伴咳嗽。"
    lz = call(lm.url, "/v1/completions", {"prompt": zh, "echo": True, "max_tokens": 0, "logprobs": 1})[1]["choices"][0][
        "logprobs"
    ]
    assert "".join(lz["tokens"]) == zh and len(lz["tokens"]) == len(eng.encode(zh))
    assert all(t == "" or "\ufffd" not in t for t in lz["tokens"])
    assert "" in lz["tokens"]  # some character is split over byte tokens in this tiny vocabulary
    st, raw = call(
        lm.url,
        "/v1/completions",
        {"prompt": prompt, "temperature": 0, "max_tokens": 4, "echo": True, "stream": True},
        raw=True,
    )
    parts = [json.loads(l[6:]) for l in raw.split("\n") if l.startswith("data: ") and l != "data: [DONE]"]
    assert parts[0]["choices"][0]["text"] == prompt
    assert "".join(p["choices"][0]["text"] for p in parts) == prompt + gen["text"]
    # streamed with logprobs: the chunks' log-probs concatenate to the non-streamed ones
    st, raw = call(
        lm.url,
        "/v1/completions",
        {"prompt": prompt, "temperature": 0, "max_tokens": 4, "echo": True, "logprobs": 0, "stream": True},
        raw=True,
    )
    parts = [json.loads(l[6:]) for l in raw.split("\n") if l.startswith("data: ") and l != "data: [DONE]"]
    for key in ("tokens", "token_logprobs", "text_offset"):
        assert sum((p["choices"][0]["logprobs"][key] for p in parts), []) == ch["logprobs"][key]
    assert call(lm.url, "/v1/completions", {"prompt": prompt, "max_tokens": 0})[0] == 400  # 0 needs echo
    assert call(lm.url, "/v1/completions", {"prompt": prompt, "echo": True, "max_tokens": "0"})[0] == 400


def test_embeddings_layers_and_pooling(lm):
    eng = lm.engine
    text = "头痛 fever"
    st, b = call(lm.url, "/v1/embeddings", {"input": [text, "other"], "layer": 1, "pooling": "mean"})
    assert st == 200 and len(b["data"]) == 2 and len(b["data"][0]["embedding"]) == eng.hidden_size
    with torch.no_grad():
        hs = eng.model(input_ids=torch.tensor([eng.encode(text)]), output_hidden_states=True).hidden_states
    assert torch.allclose(torch.tensor(b["data"][0]["embedding"]), hs[1][0].mean(0), atol=1e-5)
    st, last = call(lm.url, "/v1/embeddings", {"input": text, "layer": 0, "pooling": "last"})
    assert torch.allclose(torch.tensor(last["data"][0]["embedding"]), hs[0][0, -1], atol=1e-5)
    assert call(lm.url, "/v1/embeddings", {"input": text, "layer": 9})[0] == 400
    assert call(lm.url, "/v1/embeddings", {"input": text, "pooling": "max"})[0] == 400


def test_score_endpoint(rm, lm):
    items = [
        {"prompt": [{"role": "user", "content": "fever?"}], "response": "rest and fluids"},
        {"prompt": [{"role": "user", "content": "fever?"}], "response": "!!!"},
    ]
    st, b = call(rm.url, "/v1/score", {"items": items})
    assert st == 200 and len(b["scores"]) == 2 and all(isinstance(s, float) for s in b["scores"])
    assert b["scores"][0] != b["scores"][1]
    from sfmed_trainer import data as D

    eng = rm.engine
    enc = D.encode_pair(eng.tok, items[0]["prompt"], [items[0]["response"]], 2048)
    with torch.no_grad():
        direct = eng.model(input_ids=torch.tensor([enc["prompt_ids"] + enc["response_ids"][0]])).logits[0, 0].item()
    assert b["scores"][0] == pytest.approx(direct, abs=1e-5)
    assert call(lm.url, "/v1/score", {"items": items})[0] == 400
    assert call(rm.url, "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]})[0] == 400


def test_errors(lm):
    assert (
        call(lm.url, "/v1/chat/completions", {"model": "nope", "messages": [{"role": "user", "content": "x"}]})[0]
        == 404
    )
    st, b = call(lm.url, "/v1/chat/completions", {"messages": []})
    assert st == 400 and b["error"]["param"] == "messages"
    assert call(lm.url, "/v1/nothing", {})[0] == 404


def _write_gate(path, layer, threshold, entries, replacements):
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "layer": layer,
                "threshold": threshold,
                "dim": len(entries[0]),
                "entries": entries,
                "replacements": replacements,
            }
        ),
        encoding="utf-8",
    )
    return path


def test_gate_replaces_matching_sequences(lm, models_dir, tmp_path):
    secret, other = "患者张三 身份证 110101", "The weather is mild today."
    e_secret = call(lm.url, "/v1/embeddings", {"input": secret, "layer": 1, "pooling": "mean"})[1]["data"][0][
        "embedding"
    ]
    e_other = call(lm.url, "/v1/embeddings", {"input": other, "layer": 1, "pooling": "mean"})[1]["data"][0]["embedding"]
    cos = torch.nn.functional.cosine_similarity(torch.tensor(e_secret), torch.tensor(e_other), dim=0).item()
    assert cos < 0.999
    thr = (cos + 1) / 2
    repl = (torch.randn(len(e_secret), generator=torch.Generator().manual_seed(0)) * 2).tolist()
    gate = _write_gate(tmp_path / "gate.json", 1, thr, [e_secret], [repl])
    g = Running(models_dir["sft"], str(gate))
    try:
        req = lambda url, p: call(
            url, "/v1/completions", {"prompt": p, "temperature": 0, "max_tokens": 6, "logprobs": 1}
        )[1]["choices"][0]
        # the gate compares exactly the vector /v1/embeddings returns (pre-shift, same layer numbering)
        assert call(g.url, "/v1/embeddings", {"input": secret, "layer": 1})[1]["data"][0]["embedding"] == pytest.approx(
            e_secret, abs=1e-6
        )
        a, b = req(lm.url, secret), req(g.url, secret)
        assert a["logprobs"]["token_logprobs"] != pytest.approx(b["logprobs"]["token_logprobs"], abs=1e-4)
        c, d = req(lm.url, other), req(g.url, other)
        assert c["text"] == d["text"] and c["logprobs"]["token_logprobs"] == pytest.approx(
            d["logprobs"]["token_logprobs"], abs=1e-6
        )
        # in-process invariant: after the gate the layer's mean hidden state is the replacement
        eng = g.engine
        got = {}
        mod = eng.model.model.layers[0]
        h = mod.register_forward_hook(
            lambda m, i, o: got.__setitem__("h", (o[0] if isinstance(o, tuple) else o).detach())
        )
        try:
            eng.gate.reset()
            with torch.no_grad():
                eng.model(input_ids=torch.tensor([eng.encode(secret)]))
        finally:
            h.remove()
        assert eng.gate.last["triggered"] == [True]
        assert torch.allclose(got["h"][0].mean(0), torch.tensor(repl), atol=1e-4)
    finally:
        g.close()


def test_serve_process_ready_and_clean_shutdown(models_dir, tmp_path):
    gate = _write_gate(tmp_path / "g.json", 2, 0.99, [[0.0] * 63 + [1.0]], [[0.0] * 64])
    env = {**os.environ, "PYTHONPATH": str(TRAINER), "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(
        [sys.executable, "-m", "sfmed_trainer", "serve", str(models_dir["sft"]), "--gate", str(gate)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ready = json.loads(p.stdout.readline())
        assert ready["event"] == "ready" and ready["url"].startswith("http://127.0.0.1:") and ready["gate"] is True
        st, b = call(ready["url"], "/v1/models")
        assert st == 200 and b["data"][0]["gate"]["layer"] == 2
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
        assert json.loads(p.stdout.readline())["event"] == "stopped"
    finally:
        if p.poll() is None:
            p.kill()
    # a bad gate file fails fast with the key
    bad = _write_gate(tmp_path / "bad.json", 2, 0.9, [[0.0] * 5], [[0.0] * 5])
    cp = subprocess.run(
        [sys.executable, "-m", "sfmed_trainer", "serve", str(models_dir["sft"]), "--gate", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert cp.returncode == 2 and "dim" in json.loads(cp.stdout.splitlines()[0])["message"]
