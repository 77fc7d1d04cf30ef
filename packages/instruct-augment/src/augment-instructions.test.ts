import { appendFile, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createOpenAIModel, isLlmError } from "@sfmed/llm";
import type { Message } from "@sfmed/schema";
import { loopbackServer, sendJson, tempDir } from "@sfmed/test-utils";
import { acceptedLogPath, type CheckpointSnapshot } from "./augment-checkpoint.js";
import { augmentInstructions, type AugmentOptions } from "./augment-instructions.js";
import { SEED_INSTRUCTIONS } from "./instruction-pools.js";
import { TEST_SEEDS, fakeAnswer, fakeChatModel } from "./testing/fake-instruction-model.js";

const base = (model: AugmentOptions["model"], more: Partial<AugmentOptions> = {}): AugmentOptions => ({
  model,
  seeds: TEST_SEEDS,
  steps: 8,
  seed: 42,
  retainOldest: 3,
  retainNewest: 6,
  swapEvery: 3,
  ...more,
});

describe("augmentInstructions", () => {
  it("runs the loop: historical dialogue prompt, filtered candidates, accounting that adds up", async () => {
    const model = fakeChatModel();
    const r = await augmentInstructions(base(model));
    expect(r.stoppedBy).toBe("steps");
    expect(model.calls).toHaveLength(8);
    // Prompt layout: Q1 A1 … Q5 A5 as user/assistant turns, then the query + expansion request.
    const first = model.calls[0]!;
    expect(first).toHaveLength(11);
    first.slice(0, 10).forEach((m, i) => expect(m.role).toBe(i % 2 === 0 ? "user" : "assistant"));
    expect(first[10]!.content).toContain("扩展出更多含义相同的指令");
    expect(TEST_SEEDS).toContain(first[10]!.content.split("\n")[0]);
    const rep = r.report;
    expect(rep.accepted).toBeGreaterThan(5);
    expect(rep.accepted + Object.values(rep.rejected).reduce((a, b) => a + b, 0)).toBe(rep.candidates);
    // Each answer carries one English line, one too short, one copy of the query and one without medical terms.
    expect(rep.rejected.language).toBe(8);
    expect(rep.rejected["too-short"]).toBe(8);
    expect(rep.rejected.duplicate).toBeGreaterThanOrEqual(8);
    expect(rep.rejected.unprofessional).toBe(8);
    expect(rep.rejected["not-novel"]).toBeGreaterThan(0);
    expect(rep.usage).toMatchObject({ calls: 8, promptTokens: 800, completionTokens: 400 });
    expect(rep.diversity.meanPairwiseRougeL).toBeGreaterThan(0);
    expect(rep.diversity.meanPairwiseRougeL).toBeLessThan(0.7);
    expect(rep.lexicon.distinctTerms).toBeGreaterThan(3);
    // Retention keeps each bank at most m + n = 9.
    expect(r.banks.question.length).toBeLessThanOrEqual(9);
    expect(r.banks.answer.length).toBeLessThanOrEqual(9);
    expect(new Set(r.instructions.map((i) => i.text)).size).toBe(r.instructions.length);
    for (const i of r.instructions) expect(i.maxRougeL).toBeLessThan(0.7);
  });

  it("is deterministic given the seed", async () => {
    const a = await augmentInstructions(base(fakeChatModel()));
    const b = await augmentInstructions(base(fakeChatModel()));
    expect(b.instructions).toEqual(a.instructions);
    expect(b.banks).toEqual(a.banks);
    const c = await augmentInstructions(base(fakeChatModel(), { seed: 43 }));
    expect(c.instructions.map((i) => i.text)).not.toEqual(a.instructions.map((i) => i.text));
  });

  it("resumes after a crash to exactly what an uninterrupted run produces", async () => {
    const whole = await augmentInstructions(base(fakeChatModel()));
    const dir = await tempDir();
    const ckpt = path.join(dir, "state.json");
    const crashing = fakeChatModel({ failOn: [5] });
    await expect(augmentInstructions(base(crashing, { checkpointPath: ckpt, resume: true }))).rejects.toThrow(/injected failure on call 5/);
    const saved = JSON.parse(await readFile(ckpt, "utf8")) as CheckpointSnapshot;
    expect(saved.step).toBe(4);
    expect((await readFile(acceptedLogPath(ckpt), "utf8")).trim().split("\n")).toHaveLength(saved.acceptedCount);
    // As if the crash had hit while a step was appending to the log.
    await appendFile(acceptedLogPath(ckpt), '{"text": "半');
    const healthy = fakeChatModel();
    const resumed = await augmentInstructions(base(healthy, { checkpointPath: ckpt, resume: true }));
    expect(healthy.calls).toHaveLength(4);
    expect(resumed.instructions).toEqual(whole.instructions);
    expect(resumed.banks).toEqual(whole.banks);
    expect(resumed.state.rng).toEqual(whole.state.rng);
    expect(resumed.report).toEqual(whole.report);
    // A finished run resumed again does nothing.
    const again = fakeChatModel();
    expect((await augmentInstructions(base(again, { checkpointPath: ckpt, resume: true }))).instructions).toEqual(whole.instructions);
    expect(again.calls).toHaveLength(0);
  });

  it("refuses to resume a checkpoint made with other parameters", async () => {
    const ckpt = path.join(await tempDir(), "state.json");
    await augmentInstructions(base(fakeChatModel(), { steps: 1, checkpointPath: ckpt }));
    await expect(augmentInstructions(base(fakeChatModel(), { seed: 1, checkpointPath: ckpt, resume: true }))).rejects.toMatchObject({
      name: "AugmentError",
      code: "CHECKPOINT_MISMATCH",
    });
  });

  it("stops cleanly at a budget cap and on abort", async () => {
    const r = await augmentInstructions(base(fakeChatModel(), { budget: { maxTokens: 300 } }));
    expect(r).toMatchObject({ stoppedBy: "budget", state: { step: 2 } });
    const ac = new AbortController();
    const model = fakeChatModel();
    const a = await augmentInstructions(base(model, { signal: ac.signal, onProgress: (p) => p.step === 3 && ac.abort() }));
    expect(a.stoppedBy).toBe("aborted");
    expect(a.report.steps).toBe(3);
    expect(model.calls).toHaveLength(3);
  });

  it("grows from a single seed, as the pools do from the paper's examples", async () => {
    const model = fakeChatModel();
    const r = await augmentInstructions(base(model, { seeds: SEED_INSTRUCTIONS.single, steps: 3 }));
    // Step 1 has no history yet: only the request with the seed as the query.
    expect(model.calls[0]).toHaveLength(1);
    expect(model.calls[0]![0]!.content.startsWith(SEED_INSTRUCTIONS.single[0]!)).toBe(true);
    expect(r.instructions.length).toBeGreaterThan(0);
    expect(model.calls[2]!.length).toBeGreaterThan(1);
  });

  it("survives a swap that leaves the Question Bank empty", async () => {
    // One seed, a model whose answers all fail the filter, and a swap after every step.
    const silent = { name: "silent", chat: async () => ({ texts: ["好的。"], finishReasons: ["stop"], usage: { promptTokens: 1, completionTokens: 1 }, cached: false }) };
    const r = await augmentInstructions(base(silent, { seeds: SEED_INSTRUCTIONS.single, steps: 4, swapEvery: 1 }));
    expect(r.report).toMatchObject({ steps: 4, accepted: 0 });
  });

  it("rejects empty seeds and bad options", async () => {
    await expect(augmentInstructions(base(fakeChatModel(), { seeds: ["", "  "] }))).rejects.toMatchObject({ code: "BAD_SEEDS" });
    await expect(augmentInstructions(base(fakeChatModel(), { shots: -1 }))).rejects.toMatchObject({ code: "BAD_OPTIONS", field: "shots" });
  });
});

describe("augmentInstructions against an OpenAI-compatible server", () => {
  /** A fake server answering like the fake model, with faults injected on chosen request numbers. */
  async function fakeServer(faults: Record<number, "429" | "500" | "garbage" | "400"> = {}, truncate = false) {
    let n = 0;
    return loopbackServer((req, res) => {
      n++;
      const f = faults[n];
      if (f === "429") return sendJson(res, 429, { error: { message: "rate limited" } }, { "retry-after": "0.02" });
      if (f === "500") return sendJson(res, 500, { error: { message: "boom" } });
      if (f === "400") return sendJson(res, 400, { error: { message: "bad request" } });
      if (f === "garbage") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{oops");
        return;
      }
      const body = JSON.parse(req.body) as { messages: Message[]; seed?: number };
      let content = fakeAnswer(body.messages, body.seed);
      if (truncate) content += "\n11. 高血压患者能不能";
      sendJson(res, 200, {
        id: `c${n}`,
        object: "chat.completion",
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: truncate ? "length" : "stop" }],
        usage: { prompt_tokens: 200, completion_tokens: 80 },
      });
    });
  }
  const llm = (url: string, cacheDir?: string) =>
    createOpenAIModel({ baseURL: `${url}/v1`, model: "fake", retry: { maxRetries: 3, baseDelayMs: 2, maxDelayMs: 5 }, cacheDir, timeoutMs: 5000 });

  it("gets through 429s, 500s and garbage, matches the in-process run, and re-runs from the cache for free", async () => {
    const reference = await augmentInstructions(base(fakeChatModel(), { steps: 5 }));
    const srv = await fakeServer({ 1: "429", 2: "429", 4: "500", 7: "garbage" }, true);
    const cacheDir = await tempDir();
    const r = await augmentInstructions(base(llm(srv.url, cacheDir), { steps: 5, pricing: { inputPerMillion: 1, outputPerMillion: 2 } }));
    // The truncated last line was dropped, so the result equals the fault-free in-process run.
    expect(r.instructions).toEqual(reference.instructions);
    expect(srv.requests).toHaveLength(5 + 4);
    expect(r.report.usage).toMatchObject({ calls: 5, cachedCalls: 0, promptTokens: 1000, completionTokens: 400 });
    expect(r.report.usage.cost).toBeCloseTo((1000 * 1 + 400 * 2) / 1e6, 12);
    const again = await fakeServer();
    const r2 = await augmentInstructions(base(llm(again.url, cacheDir), { steps: 5 }));
    expect(again.requests).toHaveLength(0);
    expect(r2.instructions).toEqual(r.instructions);
    expect(r2.report.usage).toMatchObject({ calls: 5, cachedCalls: 5, promptTokens: 0, cost: 0 });
  });

  it("leaves a resumable checkpoint when the server fails for good", async () => {
    const ckpt = path.join(await tempDir(), "state.json");
    const srv = await fakeServer({ 3: "400" });
    const err = await augmentInstructions(base(llm(srv.url), { steps: 4, checkpointPath: ckpt })).catch((e: unknown) => e);
    expect(isLlmError(err) && err.status === 400).toBe(true);
    expect((JSON.parse(await readFile(ckpt, "utf8")) as CheckpointSnapshot).step).toBe(2);
    const healthy = await fakeServer();
    const r = await augmentInstructions(base(llm(healthy.url), { steps: 4, checkpointPath: ckpt, resume: true }));
    expect(healthy.requests).toHaveLength(2);
    expect(r.instructions).toEqual((await augmentInstructions(base(fakeChatModel(), { steps: 4 }))).instructions);
  });
});
