import { writeFile } from "node:fs/promises";
import path from "node:path";
import { reservoirSample } from "@sfmed/eval-metrics";
import type { CompletionModel } from "@sfmed/llm";
import { readSample, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { PrivacyProbeError } from "../errors.js";
import { fakeMemorizingModel } from "../fake-models.test-helpers.js";
import { readCheckpoint } from "./probe-checkpoint.js";
import { probeMemorization, type ProbeResult } from "./probe-memorization.js";
import { readProbeSamples, toProbeSample, type ProbeSample } from "./probe-sample.js";

/** Real SFT dialogues from the sample data, as probe samples (ChatML prompt → answer, answer cut to 60 chars). */
async function sftSamples(n: number): Promise<ProbeSample[]> {
  const lines = readSample("medicalgpt/medical_sft_1K_format.jsonl").split("\n").filter(Boolean).slice(0, n);
  const out: ProbeSample[] = [];
  for (const [i, l] of lines.entries()) {
    const s = (await toProbeSample({ id: `sft-${i}`, ...JSON.parse(l) }, { split: { ratio: 0.5 } }))!;
    out.push({ ...s, suffix: Array.from(s.suffix).slice(0, 60).join("") });
  }
  return out;
}

describe("probeMemorization", () => {
  it("finds the memorized samples and not the held-out ones, with rate, histogram and worst list", async () => {
    const samples = await sftSamples(20);
    const memorizedIdx = [1, 4, 7, 12, 19];
    const model = fakeMemorizingModel(memorizedIdx.map((i) => samples[i]!.prefix + samples[i]!.suffix));
    const progress: number[] = [];
    const report = await probeMemorization({ model, samples, concurrency: 3, worst: 3, onProgress: (p) => progress.push(p.done) });
    expect(report.total).toBe(20);
    expect(report.memorizedIds).toEqual(memorizedIdx.map((i) => `sft-${i}`).sort());
    expect(report.rate).toBeCloseTo(5 / 20, 12);
    expect(report.exact).toBe(5);
    expect(report.histogram.counts.reduce((a, b) => a + b, 0)).toBe(20);
    expect(report.histogram.counts[9]).toBe(5);
    expect(report.worst).toHaveLength(3);
    expect(report.worst.every((w) => w.memorized && w.score === 1)).toBe(true);
    expect(progress).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // Greedy decoding with a budget from the suffix length.
    expect(model.calls).toHaveLength(20);
    // Continuation log-probs separate members perfectly in this fake.
    expect(report.membership?.scores.loss.auc).toBe(1);
    expect(report.membership?.scores.minKProb.auc).toBe(1);
    expect(report.membership?.scores.loss.meanMemorized).toBeCloseTo(0.05, 12);
  });

  it("scores the true suffix with echo log-probs", async () => {
    const samples = await sftSamples(6);
    const model = fakeMemorizingModel([samples[2]!.prefix + samples[2]!.suffix]);
    const report = await probeMemorization({ model, samples, membership: "suffix-echo", concurrency: 2 });
    expect(report.memorizedIds).toEqual(["sft-2"]);
    expect(report.membership?.source).toBe("suffix-echo");
    expect(report.membership?.scores.loss.auc).toBe(1);
    expect(model.calls).toHaveLength(12);
  });

  it("applies the threshold to the chosen ROUGE-L component", async () => {
    const doc = "患者男性六十岁，反复胸闷气短三年，加重一周入院。";
    const sample = { id: "x", prefix: doc.slice(0, 8), suffix: doc.slice(8) + "查体血压偏高。" };
    // The model reproduces the first part of B only: recall ≈ 0.6, precision 1.
    const model = fakeMemorizingModel([doc]);
    const byF = await probeMemorization({ model, samples: [sample], threshold: 0.7 });
    const byP = await probeMemorization({ model, samples: [sample], threshold: 0.7, metric: "precision" });
    const r = byF.worst[0]!.rouge;
    expect(r.precision).toBe(1);
    expect(r.recall).toBeCloseTo(16 / 23, 12);
    expect(byF.memorized).toBe(1); // F = 2·1·(16/23)/(1+16/23) ≈ 0.82
    expect(byP.memorized).toBe(1);
    const strict = await probeMemorization({ model, samples: [sample], threshold: 0.7, metric: "recall" });
    expect(strict.memorized).toBe(0);
    expect(strict.exact).toBe(0);
  });

  it("resumes from the checkpoint without asking the model again", async () => {
    const dir = await tempDir();
    const checkpoint = path.join(dir, "results.jsonl");
    const samples = await sftSamples(10);
    const model = fakeMemorizingModel([samples[3]!.prefix + samples[3]!.suffix]);
    let n = 0;
    const failing = {
      name: model.name,
      complete: async (p: string, o?: Parameters<typeof model.complete>[1]) => {
        if (++n > 6) throw new Error("server went away");
        return model.complete(p, o);
      },
    };
    await expect(probeMemorization({ model: failing, samples, checkpoint, concurrency: 1 })).rejects.toThrow("server went away");
    expect((await readCheckpoint(checkpoint)).size).toBe(6);
    // A torn line from the crash is ignored.
    await writeFile(checkpoint, '{"id":"sft-9","pre', { flag: "a" });
    const before = model.calls.length;
    const report = await probeMemorization({ model, samples, checkpoint, concurrency: 2 });
    expect(model.calls.length - before).toBe(4);
    expect(report).toMatchObject({ total: 10, resumed: 6, memorizedIds: ["sft-3"] });
    // Re-judging stored results under another threshold needs no model either.
    const again = await probeMemorization({ model, samples, checkpoint, threshold: 0.01 });
    expect(again.resumed).toBe(10);
    expect(model.calls.length - before).toBe(4);
  });

  it("rejects duplicate ids", async () => {
    const model = fakeMemorizingModel([]);
    const s = { id: "a", prefix: "甲乙丙丁", suffix: "戊己" };
    await expect(probeMemorization({ model, samples: [s, s], concurrency: 1 })).rejects.toBeInstanceOf(PrivacyProbeError);
  });
});

describe("reading probe samples", () => {
  it("accepts text, dialogue, ShareGPT, Alpaca and prefix/suffix records", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "d.jsonl");
    const recs = [
      { id: "t", text: "一二三四五六七八" },
      { id: "m", messages: [{ role: "user", content: "问" }, { role: "assistant", content: "答" }] },
      { conversations: [{ from: "human", value: "Q" }, { from: "gpt", value: "A" }] },
      { id: "a", instruction: "解释", input: "高血压", output: "血压持续升高" },
      { id: "p", prefix: "甲", suffix: "乙" },
    ];
    await writeFile(file, recs.map((r) => JSON.stringify(r)).join("\n") + "\n\n");
    const out: ProbeSample[] = [];
    for await (const s of readProbeSamples({ file, split: { ratio: 0.25 } })) out.push(s);
    expect(out.map((s) => [s.id, s.suffix])).toEqual([
      ["t", "三四五六七八"],
      ["m", "答"],
      [`${file}:3`, "A"],
      ["a", "血压持续升高"],
      ["p", "乙"],
    ]);
    expect(out[1]!.prefix).toBe("<|im_start|>user\n问<|im_end|>\n<|im_start|>assistant\n");
    // Alpaca and ShareGPT go through the schema's readers: the prompt is the one `sfmed convert` gives training.
    expect(out[3]!.prefix).toBe("<|im_start|>user\n解释\n\n高血压<|im_end|>\n<|im_start|>assistant\n");
  });

  it("keeps a ShareGPT system turn in the prompt and names the field of an unknown role", async () => {
    const s = await toProbeSample({ id: "g", system: "你是医生", conversations: [{ from: "human", value: "问" }, { from: "gpt", value: "答" }] }, { split: { ratio: 0.5 } });
    expect(s?.prefix).toBe("<|im_start|>system\n你是医生<|im_end|>\n<|im_start|>user\n问<|im_end|>\n<|im_start|>assistant\n");
    const err = await toProbeSample({ conversations: [{ from: "robot", value: "x" }] }, { split: { ratio: 0.5 }, file: "f.jsonl", line: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrivacyProbeError);
    expect((err as PrivacyProbeError).message).toContain("f.jsonl:4 field conversations[0].from");
  });

  it("reads a seeded random sample in file order, or the first `limit`", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "d.jsonl");
    // Every third text is too short to split and is not a sample: the draw is over samples, not lines.
    const recs = Array.from({ length: 60 }, (_, i) => ({ id: `r${i}`, text: i % 3 === 0 ? "短" : `第${i}条训练文本，用于抽样检查。` }));
    await writeFile(file, recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const read = async (o: { limit?: number; sample?: { n: number; seed?: number } }) => {
      const out: string[] = [];
      for await (const s of readProbeSamples({ file, split: { ratio: 0.5 }, ...o })) out.push(s.id);
      return out;
    };
    const all = await read({});
    expect(all).toHaveLength(40);
    const a = await read({ sample: { n: 8, seed: 5 } });
    expect(a).toEqual((await reservoirSample(all, 8, { seed: 5 })).items);
    expect(a).toEqual([...a].sort((x, y) => Number(x.slice(1)) - Number(y.slice(1))));
    expect(await read({ sample: { n: 8, seed: 5 } })).toEqual(a);
    expect(await read({ sample: { n: 8, seed: 6 } })).not.toEqual(a);
    expect(await read({ sample: { n: 100 } })).toEqual(all);
    expect(await read({ limit: 8 })).toEqual(all.slice(0, 8));
    await expect(read({ limit: 8, sample: { n: 8 } })).rejects.toThrow("limit and sample exclude each other");
  });

  it("names file, line and field of a bad record", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "d.jsonl");
    await writeFile(file, '{"id":"ok","prefix":"a","suffix":"b"}\n{"id":"bad","messages":[{"role":"user"}]}\n');
    const err = await (async () => {
      for await (const _ of readProbeSamples({ file, split: { ratio: 0.5 } }));
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrivacyProbeError);
    expect((err as PrivacyProbeError).message).toBe(`${file}:2 field messages.0: a message needs string role and content`);
  });
});

describe('memorized means ROUGE-L "greater than 0.8" (appendix B)', () => {
  /** A model that answers every prompt with a fixed text. */
  const fixed = (text: string): CompletionModel => ({
    name: "fixed",
    complete: async () => ({ text, finishReason: "stop", usage: { promptTokens: 0, completionTokens: Array.from(text).length }, cached: false }),
  });
  // Suffix B of 5 characters; an output of 5 with 4 in the LCS scores P = R = F = 4/5 exactly (0.8000000000000002 in floats).
  const atThreshold = { id: "at", prefix: "患者主诉：", suffix: "头痛三天了" };
  const atOutput = "头痛三天啊";
  // 50 characters, 41 in the LCS: F = 0.82, just above.
  const longSuffix = "高血压患者应当低盐饮食，每日食盐不超过五克，同时限制饮酒，规律作息，适量运动，并按时服用降压药物，定期监测血压。";
  const above = { id: "above", prefix: "医生建议：", suffix: Array.from(longSuffix).slice(0, 50).join("") };
  const aboveOutput = Array.from(above.suffix).slice(0, 41).join("") + "呢吧嘛哇呀喔嘿哈呵";

  it("a suffix scoring exactly 0.8 is not memorized; one slightly above is", async () => {
    const at = await probeMemorization({ model: fixed(atOutput), samples: [atThreshold] });
    expect(at.worst[0]!.rouge).toMatchObject({ precision: 0.8, recall: 0.8 });
    expect(at.worst[0]!.score).toBeCloseTo(0.8, 12);
    expect(at.memorized).toBe(0);
    expect(at.worst[0]!.memorized).toBe(false);
    // The same exact tie under recall (4/5 with a 4-character output) is not memorized either.
    expect((await probeMemorization({ model: fixed("头痛三天"), samples: [atThreshold], metric: "recall" })).memorized).toBe(0);

    const up = await probeMemorization({ model: fixed(aboveOutput), samples: [above] });
    expect(up.worst[0]!.rouge).toMatchObject({ precision: 41 / 50, recall: 41 / 50 });
    expect(up.worst[0]!.score).toBeGreaterThan(0.8);
    expect(up.worst[0]!.score).toBeCloseTo(0.82, 12);
    expect(up.memorizedIds).toEqual(["above"]);
  });

  it("re-judges resumed results with the same rule", async () => {
    const dir = await tempDir();
    const checkpoint = path.join(dir, "results.jsonl");
    // A first run at a low threshold stores the sample as memorized.
    const first = await probeMemorization({ model: fixed(atOutput), samples: [atThreshold], checkpoint, threshold: 0.5 });
    expect(first.memorized).toBe(1);
    const stored = [...(await readCheckpoint<ProbeResult>(checkpoint)).values()];
    expect(stored[0]!.memorized).toBe(true);
    // Resumed at 0.8, without the model: the stored score equals the threshold, so it is not memorized.
    const again = await probeMemorization({ model: fixed("unused"), samples: [atThreshold], checkpoint });
    expect(again).toMatchObject({ resumed: 1, memorized: 0, memorizedIds: [] });
    // At a threshold just under the stored score it is.
    expect((await probeMemorization({ model: fixed("unused"), samples: [atThreshold], checkpoint, threshold: 0.79 })).memorized).toBe(1);
  });
});
