import { readSample } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { rougeLBatch, rougeLMany, type RougePair } from "./rouge-batch.js";
import { rougeL } from "./rouge-l.js";

interface HuatuoItem {
  instruction: string[];
  output: string[];
}

function realPairs() {
  const items = JSON.parse(readSample("huatuo26m_test/huatuo26M_test.json")) as HuatuoItem[];
  // Each answer against the next question's answer (shuffled pairs) and against its own question.
  return items.map((it, i) => ({ candidate: it.output[0] ?? "", reference: (items[(i + 1) % items.length]!.output[0] ?? "") + it.instruction[0] }));
}

describe("rougeLBatch", () => {
  it("gives the same scores from worker threads as rougeL, in input order", async () => {
    const pairs = realPairs();
    const progress: number[] = [];
    const threaded = await rougeLBatch(pairs, { threads: 2, chunkSize: 64, onProgress: (d) => progress.push(d) });
    expect(threaded).toHaveLength(pairs.length);
    pairs.forEach((p, i) => expect(threaded[i]).toEqual(rougeL(p.candidate, p.reference)));
    expect(progress.at(-1)).toBe(pairs.length);
    expect(threaded.some((s) => s.f > 0.05)).toBe(true);
  });

  it("ships interned word ids to the workers for other tokenizers, and honours empty: throw", async () => {
    const pairs = realPairs().slice(0, 40);
    const threaded = await rougeLBatch(pairs, { threads: 2, chunkSize: 8, tokenizer: "whitespace" });
    pairs.forEach((p, i) => expect(threaded[i]).toEqual(rougeL(p.candidate, p.reference, { tokenizer: "whitespace" })));
    const withEmpty = [...pairs, { candidate: " ", reference: "有内容" }];
    await expect(rougeLBatch(withEmpty, { threads: 2, chunkSize: 8, empty: "throw" })).rejects.toThrow(/Hypothesis is empty/);
  });

  it("has a synchronous path with the same results (also for jieba words)", async () => {
    const pairs = realPairs().slice(0, 20);
    const sync = rougeLMany(pairs, { tokenizer: "jieba" });
    pairs.forEach((p, i) => expect(sync[i]).toEqual(rougeL(p.candidate, p.reference, { tokenizer: "jieba" })));
    expect(await rougeLBatch(pairs, { threads: 1 })).toEqual(rougeLMany(pairs));
  });
});

describe("input shape", () => {
  it("names the bad pair and field instead of failing inside the tokenizer", async () => {
    const bad = [{ candidate: "头痛", reference: "头痛" }, { candidate: "发热" }] as unknown as RougePair[];
    await expect(rougeLBatch(bad)).rejects.toMatchObject({ name: "RougeError", code: "BAD_INPUT", index: 1, field: "reference", message: "pairs[1].reference: expected a string, got undefined" });
    expect(() => rougeLMany(bad)).toThrow(/pairs\[1\]\.reference/);
    await expect(rougeLBatch([["头痛", "头痛"]] as unknown as RougePair[])).rejects.toMatchObject({ code: "BAD_INPUT", index: 0, field: "candidate" });
    await expect(rougeLBatch("头痛" as unknown as RougePair[])).rejects.toThrow(/pairs: expected an array of \{ candidate: string, reference: string \}, got string/);
  });
});
