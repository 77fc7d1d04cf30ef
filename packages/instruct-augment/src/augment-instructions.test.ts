import { appendFile, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createOpenAIModel, isLlmError } from "@sfmed/llm";
import type { Message } from "@sfmed/schema";
import { loopbackServer, sendJson, tempDir } from "@sfmed/test-utils";
import { acceptedLogPath, type CheckpointSnapshot } from "./augment-checkpoint.js";
import { augmentInstructions, type AugmentOptions } from "./augment-instructions.js";
import { DEFAULT_SEEDS, SEED_INSTRUCTIONS, defaultSeeds } from "./instruction-pools.js";
import { sampleStep, splitSeeds } from "./question-answer-banks.js";
import { SeededRandom } from "./seeded-random.js";
import { TEST_SEEDS, TEST_SEEDS_EN, fakeAnswer, fakeChatModel } from "./testing/fake-instruction-model.js";

// The prompts of the paper's Figure 2: the English words as printed, and our Chinese translation.
const FIGURE2_PROMPT_ZH = "现在你想根据以上指令，扩展出更多语义相近的指令：";
const FIGURE2_PROMPT_EN = "Now you want to extend some more semantic instructions based on the above instructions:";

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
  it("lays a step out as Figure 2: {Q1}{Prompt}{A1} … {Q5}{Prompt}{A5}, then {Q}{Prompt}; the answer is one instruction", async () => {
    const model = fakeChatModel();
    const r = await augmentInstructions(base(model, { steps: 1 }));
    // The same draws the loop makes: split the seeds, then sample step 1 from the same generator.
    const rng = SeededRandom.fromSeed(42);
    const banks = splitSeeds(TEST_SEEDS, rng);
    const s = sampleStep(banks, 5, rng);
    expect(s.questions).toHaveLength(5);
    const expected = [
      ...s.questions.flatMap((q, i) => [
        { role: "user", content: `${q}\n${FIGURE2_PROMPT_ZH}` },
        { role: "assistant", content: s.answers[i]! },
      ]),
      { role: "user", content: `${s.query}\n${FIGURE2_PROMPT_ZH}` },
    ];
    expect(model.calls[0]).toEqual(expected);
    for (const q of [...s.questions, s.query]) expect(banks.question).toContain(q);
    for (const a of s.answers) expect(banks.answer).toContain(a);
    // One candidate per call: the fake's instruction, its preamble line dropped.
    const answer = fakeAnswer(model.calls[0]!, 43);
    const instruction = answer.split("\n").at(-1)!;
    expect(r.report.candidates).toBe(1);
    expect(r.instructions.map((i) => i.text)).toEqual([instruction]);
  });

  it("keeps every prompt of a run at a full 5-turn history across swaps, one candidate per step", async () => {
    const model = fakeChatModel();
    const r = await augmentInstructions(base(model, { steps: 12, swapEvery: 2 }));
    expect(model.calls).toHaveLength(12);
    for (const call of model.calls) {
      expect(call).toHaveLength(11);
      expect(call.map((m) => m.role)).toEqual([...Array.from({ length: 5 }, () => ["user", "assistant"]).flat(), "user"]);
      for (const m of call.filter((x) => x.role === "user")) expect(m.content.endsWith(`\n${FIGURE2_PROMPT_ZH}`)).toBe(true);
    }
    // Some answers open with a preamble line; it is dropped, never counted as a candidate.
    expect(model.calls.filter((c, i) => fakeAnswer(c, 42 + i + 1).includes("\n")).length).toBeGreaterThan(0);
    expect(r.report.candidates).toBe(12);
    expect(r.report.accepted + Object.values(r.report.rejected).reduce((a, b) => a + b, 0)).toBe(12);
    expect(r.report.parameters).toMatchObject({ layout: "figure2", language: "zh", shortHistory: false });
  });

  it("numbered layout: bare questions, a request for a numbered list, filtered candidates, accounting that adds up", async () => {
    const model = fakeChatModel();
    const r = await augmentInstructions(base(model, { layout: "numbered" }));
    expect(r.stoppedBy).toBe("steps");
    expect(model.calls).toHaveLength(8);
    // Prompt layout: Q1 A1 … Q5 A5 as user/assistant turns, then the query + expansion request.
    const first = model.calls[0]!;
    expect(first).toHaveLength(11);
    first.slice(0, 10).forEach((m, i) => expect(m.role).toBe(i % 2 === 0 ? "user" : "assistant"));
    for (const m of first.slice(0, 10)) expect(TEST_SEEDS).toContain(m.content);
    expect(first[10]!.content).toContain("扩展出更多含义相同的指令");
    expect(first[10]!.content).toContain("约5条");
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

  it("refuses fewer seeds than a full history needs, unless shortHistory is set", async () => {
    // 5 shots: 6 per bank (5 questions + the query), so 12 seeds; 11 would leave a 4-turn history after a swap.
    const err = await augmentInstructions(base(fakeChatModel(), { seeds: TEST_SEEDS.slice(0, 11) })).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "AugmentError", code: "TOO_FEW_SEEDS", field: "seeds" });
    expect((err as Error).message).toContain("at least 12");
    expect((err as Error).message).toContain("got 11");
    await expect(augmentInstructions(base(fakeChatModel(), { seeds: SEED_INSTRUCTIONS.single }))).rejects.toMatchObject({ code: "TOO_FEW_SEEDS" });
    // Duplicates and blanks do not count.
    await expect(augmentInstructions(base(fakeChatModel(), { seeds: [...TEST_SEEDS.slice(0, 11), TEST_SEEDS[0]!, " "] }))).rejects.toMatchObject({ code: "TOO_FEW_SEEDS" });
    // Fewer shots need fewer seeds: 2 shots, 6 seeds.
    const two = fakeChatModel();
    await augmentInstructions(base(two, { seeds: TEST_SEEDS.slice(0, 6), shots: 2, steps: 6, swapEvery: 1 }));
    for (const call of two.calls) expect(call).toHaveLength(5);
    // Retention that could trim a bank below shots + 1 is refused too.
    await expect(augmentInstructions(base(fakeChatModel(), { retainOldest: 2, retainNewest: 3 }))).rejects.toMatchObject({ code: "BAD_OPTIONS", field: "retainNewest" });
  });

  it("grows from a single seed with shortHistory, the history lengthening as the banks fill", async () => {
    const model = fakeChatModel();
    const r = await augmentInstructions(base(model, { seeds: SEED_INSTRUCTIONS.single, steps: 6, shortHistory: true, swapEvery: 0 }));
    // Step 1 has no history yet: only the query with the Figure 2 prompt.
    expect(model.calls[0]).toEqual([{ role: "user", content: `${SEED_INSTRUCTIONS.single[0]}\n${FIGURE2_PROMPT_ZH}` }]);
    expect(r.instructions.length).toBeGreaterThan(0);
    const lengths = model.calls.map((c) => c.length);
    expect(lengths.at(-1)!).toBeGreaterThan(1);
    for (let i = 1; i < lengths.length; i++) expect(lengths[i]!).toBeGreaterThanOrEqual(lengths[i - 1]!);
  });

  it("survives a swap that leaves the Question Bank empty", async () => {
    // One seed, a model whose answers all fail the filter, and a swap after every step.
    const silent = { name: "silent", chat: async () => ({ texts: ["好的。"], finishReasons: ["stop"], usage: { promptTokens: 1, completionTokens: 1 }, cached: false }) };
    const r = await augmentInstructions(base(silent, { seeds: SEED_INSTRUCTIONS.single, steps: 4, swapEvery: 1, shortHistory: true }));
    expect(r.report).toMatchObject({ steps: 4, accepted: 0 });
  });

  it("keeps the paper's multi-turn constraints in the multi-turn seeds and so in their prompts", async () => {
    // The paper's multi-turn example (our translation): ask only when the illness cannot be diagnosed, and do
    // not repeat the questions of earlier rounds.
    expect(SEED_INSTRUCTIONS.multi[0]).toBe("请根据患者的问题，以医生的口吻进行回答。如果无法确诊患者的病情，可以向患者询问更多信息，但请记住不要重复之前轮次的问题。");
    expect(DEFAULT_SEEDS.en.multi[0]).toBe(
      "Please respond based on the patient's question, speaking like a doctor. If the patient's illness cannot be diagnosed, you may ask for more information from the patient. However, please remember not to repeat the questions from previous rounds.",
    );
    for (const seed of DEFAULT_SEEDS.zh.multi) {
      expect(seed).toMatch(/无法(?:明确诊断|确诊)|不能确诊|不足以确诊|诊断尚不明确/);
      expect(seed).toMatch(/重复/);
    }
    for (const seed of DEFAULT_SEEDS.en.multi) {
      expect(seed).toMatch(/cannot (?:yet )?be (?:diagnosed|made)|diagnosis is unclear|not enough for a diagnosis/);
      expect(seed).toMatch(/repeat|repetitive/);
    }
    for (const seed of DEFAULT_SEEDS.zh.single) expect(seed).not.toMatch(/重复/);
    const model = fakeChatModel();
    await augmentInstructions(base(model, { seeds: defaultSeeds("multi"), steps: 1 }));
    const prompt = model.calls[0]!.map((m) => m.content).join("\n");
    expect(model.calls[0]).toHaveLength(11);
    // 11 of the 12 seeds are on screen, each carrying both constraints.
    expect(prompt.match(/重复/g)!.length).toBeGreaterThanOrEqual(11);
    expect(DEFAULT_SEEDS.zh.multi.filter((m) => prompt.includes(m))).toHaveLength(11);
  });

  it("runs in English from English seeds: the paper's prompt word for word, an English filter and lexicon", async () => {
    const model = fakeChatModel();
    const r = await augmentInstructions(base(model, { seeds: TEST_SEEDS_EN, language: "en", steps: 6 }));
    const first = model.calls[0]!;
    expect(first).toHaveLength(11);
    for (const m of first.filter((x) => x.role === "user")) expect(m.content).toMatch(new RegExp(`^[A-Z].*\n${FIGURE2_PROMPT_EN}$`, "s"));
    for (const m of first.filter((x) => x.role === "assistant")) expect(TEST_SEEDS_EN).toContain(m.content);
    expect(r.instructions.length).toBeGreaterThan(0);
    for (const i of r.instructions) {
      expect(i.text).toMatch(/^[A-Z][^\p{Script=Han}]*\.$/u);
      expect(i.terms.length).toBeGreaterThan(0);
    }
    expect(r.report.parameters).toMatchObject({ language: "en", filter: { language: "en", maxChars: 600 } });
    // The same fake answers in Chinese to a Chinese run; an English run rejects those as the wrong language.
    const zhAnswers = { name: "zh", chat: async () => ({ texts: ["作为医生，请根据患者描述的症状和病史给出专业的诊断意见。"], finishReasons: ["stop"], usage: { promptTokens: 1, completionTokens: 1 }, cached: false }) };
    const wrong = await augmentInstructions(base(zhAnswers, { seeds: TEST_SEEDS_EN, language: "en", steps: 2 }));
    expect(wrong.report.rejected.language).toBe(2);
    expect(defaultSeeds("single", "en")).toHaveLength(12);
  });

  it("rejects empty seeds and bad options", async () => {
    await expect(augmentInstructions(base(fakeChatModel(), { seeds: ["", "  "] }))).rejects.toMatchObject({ code: "BAD_SEEDS" });
    await expect(augmentInstructions(base(fakeChatModel(), { shots: -1 }))).rejects.toMatchObject({ code: "BAD_OPTIONS", field: "shots" });
    await expect(augmentInstructions(base(fakeChatModel(), { layout: "grid" as never }))).rejects.toMatchObject({ code: "BAD_OPTIONS", field: "layout" });
    await expect(augmentInstructions(base(fakeChatModel(), { language: "fr" as never }))).rejects.toMatchObject({ code: "BAD_OPTIONS", field: "language" });
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
    // Numbered layout: a truncated list loses only its last line.
    const numbered = { layout: "numbered" as const };
    const reference = await augmentInstructions(base(fakeChatModel(), { steps: 5, ...numbered }));
    const srv = await fakeServer({ 1: "429", 2: "429", 4: "500", 7: "garbage" }, true);
    const cacheDir = await tempDir();
    const r = await augmentInstructions(base(llm(srv.url, cacheDir), { steps: 5, ...numbered, pricing: { inputPerMillion: 1, outputPerMillion: 2 } }));
    // The truncated last line was dropped, so the result equals the fault-free in-process run.
    expect(r.instructions).toEqual(reference.instructions);
    expect(srv.requests).toHaveLength(5 + 4);
    expect(r.report.usage).toMatchObject({ calls: 5, cachedCalls: 0, promptTokens: 1000, completionTokens: 400 });
    expect(r.report.usage.cost).toBeCloseTo((1000 * 1 + 400 * 2) / 1e6, 12);
    const again = await fakeServer();
    const r2 = await augmentInstructions(base(llm(again.url, cacheDir), { steps: 5, ...numbered }));
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
