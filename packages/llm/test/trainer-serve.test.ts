// Real integration against `python -m sfmed_trainer serve` with a tiny random checkpoint built here. Runs only
// where trainer-py has `serve` and its virtual environment exists (`npm run trainer-env`); skipped otherwise.
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm as rm_ } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTinyCheckpoints, startServe, trainerPython } from "@sfmed/test-utils";
import { createOpenAIModel, type OpenAIModel } from "../src/index.js";

const python = trainerPython();

describe.skipIf(!python)("trainer-py serve (real server, tiny model)", () => {
  const procs: ChildProcess[] = [];
  let workDir = "";
  let lm: OpenAIModel;
  let rm: OpenAIModel;

  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), "sfmed-llm-serve-"));
    await buildTinyCheckpoints(python!, workDir, { reward: true });
    const [a, b] = await Promise.all([startServe(python!, path.join(workDir, "lm")), startServe(python!, path.join(workDir, "rm"))]);
    procs.push(a.proc, b.proc);
    const opts = { timeoutMs: 60_000, retry: { maxRetries: 1 } };
    lm = createOpenAIModel({ baseURL: a.baseURL, model: a.id, ...opts });
    rm = createOpenAIModel({ baseURL: b.baseURL, model: b.id, ...opts });
  }, 180_000);

  afterAll(async () => {
    for (const p of procs) p.kill("SIGTERM");
    if (workDir) await rm_(workDir, { recursive: true, force: true });
  });

  it("chats, completes with log-probs, streams and embeds a hidden layer", async () => {
    const msgs = [{ role: "user" as const, content: "高血压怎么办？" }];
    const c = await lm.chat(msgs, { maxTokens: 8, temperature: 0 });
    expect(c.texts).toHaveLength(1);
    expect(typeof c.texts[0]).toBe("string");
    expect(c.usage.promptTokens).toBeGreaterThan(0);
    expect(c.usage.completionTokens).toBeGreaterThan(0);

    const p = await lm.complete("高血压", { maxTokens: 4, temperature: 0, logprobs: true });
    expect(typeof p.text).toBe("string");
    expect(p.tokenLogprobs?.length).toBeGreaterThan(0);
    for (const x of p.tokenLogprobs ?? []) expect(x).toBeLessThanOrEqual(0);

    let streamed = "";
    let done;
    for await (const ev of lm.streamChat(msgs, { maxTokens: 8, temperature: 0 })) {
      if (ev.type === "delta") streamed += ev.text;
      else done = ev.result;
    }
    expect(done?.texts[0]).toBe(streamed);
    // Greedy decoding: the stream says what the plain call said.
    expect(streamed).toBe(c.texts[0]);

    const v = await lm.embed(["高血压", "糖尿病"], { layer: 1, pooling: "mean" });
    expect(v).toHaveLength(2);
    expect(v[0]!.length).toBe(64);
    expect(Array.from(v[0]!)).not.toEqual(Array.from(v[1]!));
    expect(lm.stats()).toMatchObject({ failures: 0, retries: 0 });
  }, 120_000);

  it("scores prompt/response pairs with a reward model", async () => {
    const prompt = [{ role: "user" as const, content: "头痛怎么办？" }];
    const s = await rm.score([
      { prompt, response: "多休息，必要时就医。" },
      { prompt, response: "不知道。" },
    ]);
    expect(s).toHaveLength(2);
    for (const x of s) expect(Number.isFinite(x)).toBe(true);
  }, 60_000);
});
