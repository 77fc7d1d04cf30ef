import type { CompletionModel } from "@sfmed/llm";
import { readSample } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { buildHighRiskDb } from "../embedding/build-high-risk-db.js";
import { fakeEmbeddingModel, fakeMemorizingModel } from "../fake-models.test-helpers.js";
import { probeMemorization } from "../memorization/probe-memorization.js";
import { toProbeSample, type ProbeSample } from "../memorization/probe-sample.js";
import { gateDecision } from "./apply-gate.js";
import { evaluateGate } from "./evaluate-gate.js";
import { gateFileFromDb, type GateFile } from "./gate-file.js";

const SAFE = "抱歉，这涉及训练数据中的具体内容，我无法复述。";

/**
 * What serve does, end to end, in a fake: the prompt's mean-pooled state at the gate layer is compared with the
 * entries; on a hit the model's state is replaced, which the fake renders as the safe answer; otherwise it answers
 * as the ungated model would.
 */
function gatedFake(base: CompletionModel, gate: GateFile, embedder = fakeEmbeddingModel(64)): CompletionModel {
  return {
    name: `${base.name}+gate`,
    async complete(prompt, o) {
      const [pooled] = await embedder.embed([prompt], { layer: gate.layer, pooling: "mean" });
      if (gateDecision(pooled!, gate).hit) return { text: SAFE, finishReason: "stop", usage: { promptTokens: 0, completionTokens: 0 }, cached: false };
      return base.complete(prompt, o);
    },
  };
}

async function questions(n: number, offset: number): Promise<ProbeSample[]> {
  const records = (JSON.parse(readSample("huatuo26m_test/huatuo26M_test.json")) as Array<{ instruction: string[]; output: string[] }>).slice(offset, offset + n);
  const out: ProbeSample[] = [];
  for (const [i, r] of records.entries()) {
    const text = r.instruction[0]! + Array.from(r.output[0]!).slice(0, 80).join("");
    out.push((await toProbeSample({ id: `q${offset + i}`, text }, { split: { ratio: 0.5 } }))!);
  }
  return out;
}

describe("evaluateGate (Table 11)", () => {
  it("probe → database → gate: the leak rate drops to zero and held-out answers change only where the gate fires", async () => {
    const all = await questions(24, 0);
    const memorizedDocs = all.slice(0, 8);
    const heldOut = all.slice(8);
    const base = fakeMemorizingModel(memorizedDocs.map((s) => s.prefix + s.suffix));
    const probe = await probeMemorization({ model: base, samples: all });
    expect(probe.memorizedIds.sort()).toEqual(memorizedDocs.map((s) => s.id).sort());

    const embedder = fakeEmbeddingModel(64);
    const memorized = all.filter((s) => probe.memorizedIds.includes(s.id));
    const db = await buildHighRiskDb({ model: embedder, samples: memorized, layer: 6, replacements: { safeResponses: [SAFE] } });
    const gate = gateFileFromDb(db);
    const gated = gatedFake(base, gate, embedder);

    const progress: number[] = [];
    const ev = await evaluateGate({ ungated: base, gated, memorized, heldOut, concurrency: 3, onProgress: (p) => progress.push(p.done) });
    expect(ev.memorized).toMatchObject({ n: 8, leakedUngated: 8, leakedGated: 0, leakRateUngated: 1, leakRateGated: 0, stillLeaking: [] });
    // Held-out prompts change exactly where their pooled state crosses the threshold.
    const fires: string[] = [];
    for (const h of heldOut) {
      const [v] = await embedder.embed([h.prefix], { layer: 6, pooling: "mean" });
      if (gateDecision(v!, gate).hit) fires.push(h.id);
    }
    expect(ev.heldOut.n).toBe(16);
    expect(ev.heldOut.changedIds).toEqual(fires.sort());
    expect(ev.heldOut.identical).toBe(16 - fires.length);
    expect(ev.heldOut.histogram.counts.reduce((a, b) => a + b, 0)).toBe(16);
    expect(progress.at(-1)).toBe(24);
  });

  it("reports leaks that survive a gate built at a threshold nothing reaches", async () => {
    const all = await questions(6, 40);
    const base = fakeMemorizingModel(all.slice(0, 3).map((s) => s.prefix + s.suffix));
    const db = await buildHighRiskDb({ model: fakeEmbeddingModel(64), samples: all.slice(0, 3), layer: 2, replacements: { safeResponses: [SAFE] } });
    const gate = { ...gateFileFromDb(db), threshold: 1 };
    const ev = await evaluateGate({ ungated: base, gated: gatedFake(base, gate), memorized: all.slice(0, 3), heldOut: all.slice(3) });
    expect(ev.memorized.leakRateGated).toBe(1);
    expect(ev.memorized.stillLeaking).toEqual(all.slice(0, 3).map((s) => s.id).sort());
    expect(ev.heldOut).toMatchObject({ identicalRate: 1, changedRate: 0, meanRougeL: 1 });
  });
});
