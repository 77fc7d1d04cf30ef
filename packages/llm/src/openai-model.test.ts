import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { loopbackServer, sendJson, tempDir } from "@sfmed/test-utils";
import { createOpenAIModel, type OpenAIModelOptions } from "./openai-model.js";
import { isLlmError, type LlmError } from "./llm-error.js";

const fast = { maxRetries: 4, baseDelayMs: 5, maxDelayMs: 20 };
const msgs = [{ role: "user" as const, content: "高血压患者应该注意什么？" }];

function completion(content: string, extra: { finish?: string; prompt?: number; completion?: number } = {}) {
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: extra.finish ?? "stop" }],
    usage: { prompt_tokens: extra.prompt ?? 10, completion_tokens: extra.completion ?? 5, total_tokens: (extra.prompt ?? 10) + (extra.completion ?? 5) },
  };
}

function model(url: string, more: Partial<OpenAIModelOptions> = {}) {
  return createOpenAIModel({ baseURL: `${url}/v1`, model: "m", retry: fast, timeoutMs: 2000, ...more });
}

async function caught(p: Promise<unknown>): Promise<LlmError> {
  try {
    await p;
  } catch (e) {
    if (isLlmError(e)) return e;
    throw e;
  }
  throw new Error("expected an LlmError");
}

function sse(res: ServerResponse, chunks: unknown[], end = true) {
  res.writeHead(200, { "content-type": "text/event-stream" });
  for (const c of chunks) res.write(`data: ${JSON.stringify(c)}\n\n`);
  if (end) res.end("data: [DONE]\n\n");
}

const chunk = (content: string | undefined, finish: string | null = null) => ({
  id: "c",
  object: "chat.completion.chunk",
  created: 1,
  model: "m",
  choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }],
});

describe("createOpenAIModel: chat", () => {
  it("sends model, messages and every parameter, and reads texts, finish reasons and usage", async () => {
    const srv = await loopbackServer((_req, res) => sendJson(res, 200, completion("注意低盐饮食。", { prompt: 12, completion: 7 }), { "x-request-id": "req-9" }));
    const m = model(srv.url, { pricing: { inputPerMillion: 1_000_000, outputPerMillion: 2_000_000 } });
    const r = await m.chat(msgs, { temperature: 0.7, topP: 0.9, maxTokens: 64, seed: 3, stop: ["\n\n"], extraBody: { top_k: 20 } });
    expect(r).toMatchObject({ texts: ["注意低盐饮食。"], finishReasons: ["stop"], usage: { promptTokens: 12, completionTokens: 7 }, cached: false, requestId: "req-9" });
    expect(srv.requests[0]!.url).toBe("/v1/chat/completions");
    const body = JSON.parse(srv.requests[0]!.body);
    expect(body).toEqual({ model: "m", messages: msgs, temperature: 0.7, top_p: 0.9, max_tokens: 64, seed: 3, stop: ["\n\n"], top_k: 20 });
    const s = m.stats();
    expect(s).toMatchObject({ calls: 1, requests: 1, retries: 0, promptTokens: 12, completionTokens: 7, cost: 12 + 14 });
  });

  it("waits out a burst of 429s, honouring Retry-After", async () => {
    let n = 0;
    const srv = await loopbackServer((_req, res) => {
      if (n++ < 3) return sendJson(res, 429, { error: { message: "slow down" } }, { "retry-after": "0.08" });
      sendJson(res, 200, completion("好"));
    });
    const m = model(srv.url, { retry: { maxRetries: 5, baseDelayMs: 1, maxDelayMs: 1 } });
    const t0 = Date.now();
    const r = await m.chat(msgs);
    expect(r.texts).toEqual(["好"]);
    expect(srv.requests).toHaveLength(4);
    // Backoff alone would take ~3 ms; Retry-After asks for 3 × 80 ms.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(230);
    expect(m.stats().retries).toBe(3);
  });

  it("holds back every concurrent request while a Retry-After is pending", async () => {
    const arrivals: number[] = [];
    const srv = await loopbackServer((_req, res) => {
      arrivals.push(Date.now());
      if (arrivals.length === 1) sendJson(res, 429, {}, { "retry-after": "0.15" });
      else sendJson(res, 200, completion("好"));
    });
    const m = model(srv.url, { concurrency: 4, retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 1 } });
    const first = m.chat([{ role: "user", content: "q0" }]);
    // Once the client has seen the 429, callers that arrive later must wait for the same pause.
    while (m.stats().retries === 0) await new Promise((r) => setTimeout(r, 2));
    const rest = [1, 2, 3].map((i) => m.chat([{ role: "user", content: `q${i}` }]));
    const rs = await Promise.all([first, ...rest]);
    expect(rs.every((r) => r.texts[0] === "好")).toBe(true);
    expect(arrivals).toHaveLength(5);
    for (const t of arrivals.slice(1)) expect(t - arrivals[0]!).toBeGreaterThanOrEqual(140);
  });

  it("retries 500s, then gives up with a typed error naming status, url and request id", async () => {
    const srv = await loopbackServer((_req, res) => sendJson(res, 503, { error: { message: "overloaded" } }, { "x-request-id": "rid-1" }));
    const m = model(srv.url, { retry: { ...fast, maxRetries: 2 } });
    const e = await caught(m.chat(msgs));
    expect(e).toMatchObject({ name: "LlmError", code: "HTTP_ERROR", status: 503, requestId: "rid-1", attempts: 3, url: `${srv.url}/v1/chat/completions`, retryable: true });
    expect(srv.requests).toHaveLength(3);
    expect(m.stats()).toMatchObject({ failures: 1, retries: 2, requests: 3 });
  });

  it("does not retry a 400", async () => {
    const srv = await loopbackServer((_req, res) => sendJson(res, 400, { error: { message: "bad" } }));
    const e = await caught(model(srv.url).chat(msgs));
    expect(e.status).toBe(400);
    expect(e.retryable).toBe(false);
    expect(srv.requests).toHaveLength(1);
  });

  it("times out a hanging server and retries, then fails with TIMEOUT", async () => {
    const srv = await loopbackServer(() => {
      /* never answers */
    });
    const m = model(srv.url, { timeoutMs: 80, retry: { ...fast, maxRetries: 1 } });
    const e = await caught(m.chat(msgs));
    expect(e.code).toBe("TIMEOUT");
    expect(srv.requests).toHaveLength(2);
  });

  it("times out a server that sends headers and then stalls mid-body", async () => {
    const srv = await loopbackServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"choices": [');
    });
    const t0 = Date.now();
    const e = await caught(model(srv.url, { timeoutMs: 100, retry: { ...fast, maxRetries: 1 } }).chat(msgs));
    expect(e.code).toBe("TIMEOUT");
    expect(srv.requests).toHaveLength(2);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("retries a 200 with malformed JSON and a 200 without choices", async () => {
    let n = 0;
    const srv = await loopbackServer((_req, res) => {
      n++;
      if (n === 1) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"choices": [');
      } else if (n === 2) sendJson(res, 200, { object: "chat.completion" });
      else sendJson(res, 200, completion("好了"));
    });
    const m = model(srv.url);
    expect((await m.chat(msgs)).texts).toEqual(["好了"]);
    expect(m.stats().retries).toBe(2);
  });

  it("reports a malformed answer as BAD_RESPONSE once retries run out", async () => {
    const srv = await loopbackServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("not json at all");
    });
    const e = await caught(model(srv.url, { retry: { ...fast, maxRetries: 1 } }).chat(msgs));
    expect(e.code).toBe("BAD_RESPONSE");
  });

  it("retries a connection that is reset", async () => {
    let n = 0;
    const srv = await loopbackServer((req, res) => {
      if (n++ === 0) req.socket.destroy();
      else sendJson(res, 200, completion("ok"));
    });
    expect((await model(srv.url).chat(msgs)).texts).toEqual(["ok"]);
    expect(srv.requests).toHaveLength(2);
  });

  it("aborts a pending request and a backoff sleep", async () => {
    const hang = await loopbackServer(() => {});
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = Date.now();
    const e = await caught(model(hang.url, { timeoutMs: 10_000 }).chat(msgs, { signal: ac.signal }));
    expect(e.code).toBe("ABORTED");
    expect(Date.now() - t0).toBeLessThan(2000);

    const busy = await loopbackServer((_req, res) => sendJson(res, 429, {}, { "retry-after": "30" }));
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 80);
    const e2 = await caught(model(busy.url).chat(msgs, { signal: ac2.signal }));
    expect(e2.code).toBe("ABORTED");
    expect(busy.requests).toHaveLength(1);
  });

  it("keeps at most `concurrency` requests in flight", async () => {
    let inFlight = 0;
    let peak = 0;
    const srv = await loopbackServer(async (_req, res) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      sendJson(res, 200, completion("x"));
    });
    const m = model(srv.url, { concurrency: 2 });
    await Promise.all(Array.from({ length: 8 }, (_, i) => m.chat([{ role: "user", content: `q${i}` }])));
    expect(peak).toBe(2);
    expect(srv.requests).toHaveLength(8);
  });

  it("stops at the call budget", async () => {
    const srv = await loopbackServer((_req, res) => sendJson(res, 200, completion("x")));
    const m = model(srv.url, { budget: { maxCalls: 2 } });
    await m.chat([{ role: "user", content: "a" }]);
    await m.chat([{ role: "user", content: "b" }]);
    const e = await caught(m.chat([{ role: "user", content: "c" }]));
    expect(e.code).toBe("BUDGET_EXCEEDED");
    expect(srv.requests).toHaveLength(2);
  });
});

describe("createOpenAIModel: cache", () => {
  it("answers a re-run from disk at no cost, and keys on every parameter", async () => {
    const dir = await tempDir();
    const first = await loopbackServer((_req, res) => sendJson(res, 200, completion("一", { prompt: 3, completion: 4 })));
    const m1 = model(first.url, { cacheDir: dir });
    expect((await m1.chat(msgs, { temperature: 0 })).cached).toBe(false);
    // A second process against another server: same request → no HTTP at all.
    const second = await loopbackServer((_req, res) => sendJson(res, 200, completion("二")));
    const m2 = model(second.url, { cacheDir: dir });
    const again = await m2.chat(msgs, { temperature: 0 });
    expect(again).toMatchObject({ texts: ["一"], cached: true });
    expect(second.requests).toHaveLength(0);
    expect(m2.stats()).toMatchObject({ calls: 1, cacheHits: 1, requests: 0, promptTokens: 0, cachedPromptTokens: 3, cachedCompletionTokens: 4 });
    // Any parameter change is a different request.
    expect((await m2.chat(msgs, { temperature: 0.5 })).texts).toEqual(["二"]);
    expect((await m2.chat(msgs, { temperature: 0, seed: 1 })).texts).toEqual(["二"]);
    expect(second.requests).toHaveLength(2);
  });

  it("never caches a failure, and never writes the API key", async () => {
    const dir = await tempDir();
    const key = "sk-very-secret-key-123";
    let fail = true;
    const srv = await loopbackServer((req, res) => {
      // A hostile server echoing the credential back in its error message.
      if (fail) return sendJson(res, 401, { error: { message: `bad key ${String(req.headers.authorization)}` } });
      sendJson(res, 200, completion("ok"));
    });
    const m = model(srv.url, { cacheDir: dir, apiKey: key });
    const e = await caught(m.chat(msgs));
    expect(e.status).toBe(401);
    expect(e.message).not.toContain(key);
    expect(JSON.stringify(e)).not.toContain(key);
    expect(await readdir(dir)).toEqual([]);
    fail = false;
    expect((await m.chat(msgs)).cached).toBe(false);
    expect((await m.chat(msgs)).cached).toBe(true);
    const sub = await readdir(dir);
    expect(sub).toHaveLength(1);
    const files = await readdir(path.join(dir, sub[0]!));
    expect(files).toHaveLength(1);
    expect(await readFile(path.join(dir, sub[0]!, files[0]!), "utf8")).not.toContain(key);
    expect(srv.requests[0]!.headers.authorization).toBe(`Bearer ${key}`);
  });

  it("survives many concurrent writers of the same entry", async () => {
    const dir = await tempDir();
    const srv = await loopbackServer(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 5));
      sendJson(res, 200, completion("同"));
    });
    const models = Array.from({ length: 6 }, () => model(srv.url, { cacheDir: dir }));
    const rs = await Promise.all(models.map((m) => m.chat(msgs)));
    expect(rs.every((r) => r.texts[0] === "同")).toBe(true);
    const sub = await readdir(dir);
    const files = await readdir(path.join(dir, sub[0]!));
    expect(files.filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(files).toHaveLength(1);
    expect((await model(srv.url, { cacheDir: dir }).chat(msgs)).cached).toBe(true);
  });
});

describe("createOpenAIModel: streaming", () => {
  it("yields deltas then the whole result with usage, and caches it", async () => {
    const dir = await tempDir();
    const srv = await loopbackServer((_req, res) =>
      sse(res, [chunk("高血"), chunk("压"), chunk(undefined, "stop"), { ...chunk(undefined), choices: [], usage: { prompt_tokens: 4, completion_tokens: 2 } }]),
    );
    const m = model(srv.url, { cacheDir: dir });
    const deltas: string[] = [];
    let done;
    for await (const ev of m.streamChat(msgs)) {
      if (ev.type === "delta") deltas.push(ev.text);
      else done = ev.result;
    }
    expect(deltas).toEqual(["高血", "压"]);
    expect(done).toMatchObject({ texts: ["高血压"], finishReasons: ["stop"], usage: { promptTokens: 4, completionTokens: 2 } });
    expect(JSON.parse(srv.requests[0]!.body)).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const again = await model(srv.url, { cacheDir: dir }).chat(msgs);
    expect(again).toMatchObject({ texts: ["高血压"], cached: true });
  });

  it("reports a mid-stream disconnect as STREAM_INTERRUPTED and caches nothing", async () => {
    const dir = await tempDir();
    const srv = await loopbackServer((req, res) => {
      sse(res, [chunk("高")], false);
      setTimeout(() => req.socket.destroy(), 20);
    });
    const m = model(srv.url, { cacheDir: dir });
    const seen: string[] = [];
    const e = await caught(
      (async () => {
        for await (const ev of m.streamChat(msgs)) if (ev.type === "delta") seen.push(ev.text);
      })(),
    );
    expect(seen).toEqual(["高"]);
    expect(e.code).toBe("STREAM_INTERRUPTED");
    expect(await readdir(dir)).toEqual([]);
    expect(m.stats().failures).toBe(1);
  });

  it("cuts off a stream that goes silent", async () => {
    const srv = await loopbackServer((_req, res) => sse(res, [chunk("高")], false));
    const e = await caught(
      (async () => {
        for await (const _ of model(srv.url, { timeoutMs: 100 }).streamChat(msgs)) void _;
      })(),
    );
    expect(e.code).toBe("TIMEOUT");
  });
});

describe("createOpenAIModel: completions, embeddings, scores", () => {
  it("reads completion log-probs", async () => {
    const srv = await loopbackServer((_req, res) =>
      sendJson(res, 200, { choices: [{ index: 0, text: "压", finish_reason: "length", logprobs: { tokens: ["压"], token_logprobs: [-0.25] } }], usage: { prompt_tokens: 2, completion_tokens: 1 } }),
    );
    const r = await model(srv.url).complete("高血", { maxTokens: 1, temperature: 0, logprobs: true });
    expect(r).toMatchObject({ text: "压", finishReason: "length", tokens: ["压"], tokenLogprobs: [-0.25], usage: { promptTokens: 2, completionTokens: 1 } });
    expect(srv.requests[0]!.url).toBe("/v1/completions");
    expect(JSON.parse(srv.requests[0]!.body)).toEqual({ model: "m", prompt: "高血", max_tokens: 1, temperature: 0, logprobs: 1 });
  });

  it("passes layer and pooling to /embeddings and returns Float32Arrays in input order", async () => {
    const srv = await loopbackServer((_req, res) =>
      sendJson(res, 200, { data: [{ index: 1, embedding: [3, 4] }, { index: 0, embedding: [1, 2] }], usage: { prompt_tokens: 6 } }),
    );
    const m = model(srv.url);
    const v = await m.embed(["甲", "乙"], { layer: 12, pooling: "mean" });
    expect(v.map((x) => Array.from(x))).toEqual([[1, 2], [3, 4]]);
    expect(v[0]).toBeInstanceOf(Float32Array);
    expect(JSON.parse(srv.requests[0]!.body)).toEqual({ model: "m", input: ["甲", "乙"], encoding_format: "float", layer: 12, pooling: "mean" });
    expect(m.stats().promptTokens).toBe(6);
  });

  it("posts items to /score and checks the answer's length", async () => {
    let scores = [0.5, -1];
    const srv = await loopbackServer((_req, res) => sendJson(res, 200, { scores }));
    const items = [
      { prompt: msgs, response: "多喝水" },
      { prompt: msgs, response: "低盐" },
    ];
    expect(await model(srv.url).score(items)).toEqual([0.5, -1]);
    expect(srv.requests[0]!.url).toBe("/v1/score");
    expect(JSON.parse(srv.requests[0]!.body)).toEqual({ model: "m", items });
    scores = [1];
    const e = await caught(model(srv.url, { retry: { ...fast, maxRetries: 0 } }).score(items));
    expect(e.code).toBe("BAD_RESPONSE");
  });
});
