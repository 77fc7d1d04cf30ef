import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { collectStats, detectKind, percentile, summarize } from "./record-stats.js";

describe("record stats", () => {
  test.prop([fc.array(fc.nat({ max: 10_000 }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 100 })])(
    "nearest-rank percentile: at least p% of values are ≤ it, and it is one of the values",
    (xs, p) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const v = percentile(sorted, p);
      expect(xs).toContain(v);
      expect(xs.filter((x) => x <= v).length / xs.length).toBeGreaterThanOrEqual(p / 100);
      expect(xs.filter((x) => x < v).length / xs.length).toBeLessThan(p / 100);
      const s = summarize(xs);
      expect([s.min, s.max, s.count]).toEqual([sorted[0], sorted[sorted.length - 1], xs.length]);
    },
  );

  test.prop([fc.array(fc.record({ source: fc.constantFrom("a", "b"), turns: fc.integer({ min: 1, max: 4 }), len: fc.nat(20) }), { maxLength: 40 })])(
    "counts dialogues per source and user turns per dialogue",
    async (specs) => {
      const records = specs.map((s, i) => ({
        id: String(i),
        source: s.source,
        messages: Array.from({ length: s.turns }, () => [
          { role: "user", content: "问".repeat(s.len) },
          { role: "assistant", content: "答" },
        ]).flat(),
      }));
      const st = await collectStats(records);
      expect(st.records).toBe(specs.length);
      for (const src of ["a", "b"]) {
        const n = specs.filter((s) => s.source === src).length;
        expect(st.bySource[src] ?? 0).toBe(n);
      }
      if (specs.length) {
        expect(st.turns!.histogram).toEqual(specs.reduce<Record<string, number>>((h, s) => ((h[s.turns] = (h[s.turns] ?? 0) + 1), h), {}));
        expect(st.lengths.user!.max).toBe(Math.max(...specs.map((s) => s.len * s.turns)));
      }
    },
  );

  it("detects kinds from the shape and reports multi-answer choices", async () => {
    expect(detectKind({ id: "x", text: "t" })).toBe("doc");
    expect(detectKind({ id: "x", prompt: [], chosen: "a", rejected: "b" })).toBe("pair");
    expect(detectKind({ id: "x", prompt: [], reference: "r" })).toBe("qa");
    expect(detectKind({ id: "x", model: "m", output: "o" })).toBe("prediction");
    expect(detectKind(42)).toBeUndefined();
    const st = await collectStats([
      { id: "1", subject: "s", question: "q", options: { A: "a", B: "b" }, answer: ["A", "B"] },
      { id: "2", subject: "s", question: "qq", options: { A: "a", B: "b" }, answer: ["A"] },
    ]);
    expect(st.choice).toEqual({ multiAnswer: 1, bySubject: { s: 2 } });
    expect(st.byKind).toEqual({ choice: 2 });
    expect(st.lengths.question).toMatchObject({ min: 1, max: 2, count: 2 });
  });
});
