import { fc, test } from "@fast-check/vitest";
import type { PreferencePair } from "@sfmed/schema";
import { describe, expect, it } from "vitest";
import { OptionError } from "./errors.js";
import { preferenceStrength } from "./preference-strength.js";
import { selectPairs, selectionCount } from "./select-pairs.js";

function pair(id: string, chosen: number[], rejected: number[], models?: string[]): PreferencePair {
  return {
    id,
    prompt: [{ role: "user", content: `q ${id}` }],
    chosen: `good ${id}`,
    rejected: `bad ${id}`,
    scores: models ? { chosen, rejected, models } : { chosen, rejected },
  };
}

// Small integer scores make equal strengths (and so the id tie-break) common.
const arbPairs = (m: number) =>
  fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 80 }).chain((ids) =>
    fc.tuple(
      ...ids.map((id) =>
        fc
          .tuple(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: m, maxLength: m }), fc.array(fc.integer({ min: -3, max: 3 }), { minLength: m, maxLength: m }))
          .map(([c, r]) => pair(id, c, r, Array.from({ length: m }, (_, k) => `rm${k}`))),
      ),
    ),
  );
const fractions = fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })).map(([a, b]): [number, number] => (a + b > 1 ? [a / 2, b / 2] : [a, b]));

function shuffle<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let a = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    const j = a % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("selectionCount", () => {
  it("floors fraction·n, reading decimal fractions as written", () => {
    expect([0, 9, 10, 19, 20, 99, 100].map((n) => selectionCount({ fraction: 0.1, n }))).toEqual([0, 0, 1, 1, 2, 9, 10]);
    expect(selectionCount({ fraction: 0.29, n: 100 })).toBe(29); // 0.29·100 = 28.999999999999996 in binary
    expect(selectionCount({ fraction: 0.7, n: 10 })).toBe(7);
    expect(selectionCount({ fraction: 1, n: 7 })).toBe(7);
  });
});

describe("selectPairs", () => {
  it("flips the weakest tenth, drops the strongest tenth and annotates the rest", () => {
    const pairs = Array.from({ length: 20 }, (_, i) => pair(`p${String(i).padStart(2, "0")}`, [i - 5, i - 3], [0, 0]));
    const r = selectPairs({ pairs: shuffle(pairs, 7) });
    expect(r.summary).toMatchObject({ input: 20, valid: 20, flipped: 2, dropped: 2, kept: 16, models: 2, flipMaxStrength: -3, dropMinStrength: 14 });
    expect(r.dropped.map((p) => p.id).sort()).toEqual(["p18", "p19"]);
    const p00 = r.pairs.find((p) => p.id === "p00")!;
    expect(p00).toMatchObject({ chosen: "bad p00", rejected: "good p00", margin: 4, meta: { strength: 4, strengthStd: 1, action: "flipped" } });
    expect(p00.scores).toEqual({ chosen: [0, 0], rejected: [-5, -3] });
    const p05 = r.pairs.find((p) => p.id === "p05")!;
    expect(p05).toMatchObject({ chosen: "good p05", margin: 1, meta: { strength: 1, strengthStd: 1, action: "kept" } });
    expect(r.strengths.map((s) => s.id)).toEqual(pairs.map((p) => p.id));
  });

  it("breaks strength ties by id, not by input position", () => {
    const pairs = ["c", "a", "d", "b", "e", "f", "g", "h", "i", "j"].map((id) => pair(id, [1], [1]));
    const r = selectPairs({ pairs });
    expect(r.pairs.find((p) => p.meta?.action === "flipped")!.id).toBe("a");
    expect(r.dropped[0]!.id).toBe("j");
  });

  it("rejects unusable rows with line, field and reason and never drops them silently", () => {
    const rows: unknown[] = [
      pair("a", [1, 2], [0, 0]),
      { ...pair("b", [1, 2], [0, 0]), scores: undefined },
      pair("c", [1, Number.NaN], [0, 0]),
      pair("d", [1, Number.POSITIVE_INFINITY], [0, 0]),
      { ...pair("e", [1, 2], [0, 0]), scores: { chosen: [1, null], rejected: [0, 0] } },
      pair("f", [1, 2, 3], [0, 0, 0]),
      pair("a", [3, 2], [0, 0]),
      pair("g", [1, 2], [0]),
      { id: "h", chosen: "x" },
      pair("i", [1, 2], [0, 0], ["m1", "m2"]),
      pair("j", [1, 2], [0, 0], ["m1", "m3"]),
      pair("k", [], []),
    ];
    const r = selectPairs({ pairs: rows, file: "in.jsonl", lines: rows.map((_, i) => 10 + i), flip: 0, drop: 0 });
    const byId = Object.fromEntries(r.rejected.map((x) => [`${x.id}@${x.line}`, x]));
    expect(r.pairs.map((p) => p.id)).toEqual(["a", "i"]);
    expect(r.rejected).toHaveLength(10);
    expect(r.summary).toMatchObject({ input: 12, valid: 2, rejected: 10, models: 2, modelNames: ["m1", "m2"] });
    expect(byId["b@11"]).toMatchObject({ file: "in.jsonl", field: "scores", reason: "missing reward-model scores" });
    expect(byId["c@12"]).toMatchObject({ field: "scores.chosen[1]", reason: "score is not finite (NaN)" });
    expect(byId["d@13"]).toMatchObject({ field: "scores.chosen[1]", reason: "score is not finite (Infinity)" });
    expect(byId["e@14"]).toMatchObject({ field: "scores.chosen[1]", reason: "score is missing (null)" });
    expect(byId["f@15"]).toMatchObject({ field: "scores.chosen", reason: "3 model scores, expected 2" });
    expect(byId["a@16"]).toMatchObject({ field: "id", reason: "duplicate id (first at line 10)" });
    expect(byId["g@17"]!.field).toBe("scores.rejected");
    expect(byId["h@18"]!.reason).toBe("missing reward-model scores");
    expect(byId["j@20"]).toMatchObject({ field: "scores.models", reason: "models [m1, m3] differ from [m1, m2] (line 19)" });
    expect(byId["k@21"]).toMatchObject({ reason: "no reward-model scores" });
  });

  it("checks counts against an explicit ensemble", () => {
    const r = selectPairs({ pairs: [pair("a", [1], [0]), pair("b", [1, 2], [0, 0])], models: ["x", "y"], flip: 0, drop: 0 });
    expect(r.pairs.map((p) => p.id)).toEqual(["b"]);
    expect(r.rejected[0]).toMatchObject({ line: 1, reason: "1 model scores, expected 2" });
  });

  it("refuses fractions out of range and overlapping flip + drop", () => {
    expect(() => selectPairs({ pairs: [], flip: -0.1 })).toThrow(OptionError);
    expect(() => selectPairs({ pairs: [], drop: 1.5 })).toThrow(/drop must be a fraction/);
    expect(() => selectPairs({ pairs: [], flip: 0.6, drop: 0.5 })).toThrow(/flip \+ drop must be at most 1/);
    expect(selectPairs({ pairs: [pair("a", [1], [0]), pair("b", [2], [0])], flip: 0.5, drop: 0.5 }).summary).toMatchObject({ flipped: 1, dropped: 1, kept: 0 });
  });

  test.prop([fc.integer({ min: 1, max: 4 }).chain(arbPairs), fractions], { numRuns: 150 })(
    "flips exactly ⌊flip·n⌋ weakest and drops exactly ⌊drop·n⌋ strongest",
    (pairs, [flip, drop]) => {
      const r = selectPairs({ pairs, flip, drop });
      const n = pairs.length;
      const nf = Math.floor(flip * n + 1e-9);
      const nd = Math.floor(drop * n + 1e-9);
      expect(r.summary).toMatchObject({ valid: n, rejected: 0, flipped: nf, dropped: nd, kept: n - nf - nd });
      expect(r.pairs.filter((p) => p.meta?.action === "flipped")).toHaveLength(nf);
      expect(r.dropped).toHaveLength(nd);
      expect(r.pairs).toHaveLength(n - nd);
      const mu = (a: string) => r.strengths.filter((s) => s.action === a).map((s) => s.strength);
      const maxF = Math.max(...mu("flipped"));
      const minK = Math.min(...mu("kept"));
      const maxK = Math.max(...mu("kept"));
      const minD = Math.min(...mu("dropped"));
      expect(maxF <= Math.min(minK, minD)).toBe(true);
      expect(maxK <= minD).toBe(true);
      // the ranking is ascending by strength, then by id
      for (let i = 1; i < r.strengths.length; i++) {
        const a = r.strengths[i - 1]!;
        const b = r.strengths[i]!;
        expect(a.strength < b.strength || (a.strength === b.strength && a.id < b.id)).toBe(true);
      }
    },
  );

  test.prop([fc.integer({ min: 1, max: 4 }).chain(arbPairs)], { numRuns: 100 })("flipping swaps texts and scores and negates μ", (pairs) => {
    const r = selectPairs({ pairs, flip: 0.5, drop: 0 });
    const orig = new Map(pairs.map((p) => [p.id, p]));
    for (const p of r.pairs) {
      const o = orig.get(p.id)!;
      const mu = preferenceStrength(o.scores!).mean;
      if (p.meta?.action === "flipped") {
        expect([p.chosen, p.rejected]).toEqual([o.rejected, o.chosen]);
        expect(p.meta.strength === -mu).toBe(true);
        expect(preferenceStrength(p.scores!).mean === -mu).toBe(true);
      } else {
        expect([p.chosen, p.rejected]).toEqual([o.chosen, o.rejected]);
        expect(p.meta?.strength).toBe(mu);
      }
      expect(p.margin).toBe(p.meta?.strength);
    }
  });

  test.prop([fc.integer({ min: 2, max: 5 }).chain(arbPairs), fc.integer(), fractions], { numRuns: 100 })(
    "is invariant to the reward-model order",
    (pairs, seed, [flip, drop]) => {
      const m = pairs[0]?.scores?.chosen.length ?? 0;
      const perm = shuffle(Array.from({ length: m }, (_, i) => i), seed);
      const permuted = pairs.map((p) => ({
        ...p,
        scores: { chosen: perm.map((k) => p.scores!.chosen[k]!), rejected: perm.map((k) => p.scores!.rejected[k]!), models: perm.map((k) => p.scores!.models![k]!) },
      }));
      const a = selectPairs({ pairs, flip, drop });
      const b = selectPairs({ pairs: permuted, flip, drop });
      expect(b.strengths).toEqual(a.strengths);
      const strip = (ps: PreferencePair[]) => ps.map(({ scores: _s, ...rest }) => rest);
      expect(strip(b.pairs)).toEqual(strip(a.pairs));
      expect(strip(b.dropped)).toEqual(strip(a.dropped));
    },
  );

  test.prop([fc.integer({ min: 1, max: 4 }).chain(arbPairs), fc.integer(), fractions], { numRuns: 100 })(
    "is invariant to the input order (output order follows the input, or strength with order: strength)",
    (pairs, seed, [flip, drop]) => {
      const shuffled = shuffle(pairs, seed);
      const a = selectPairs({ pairs, flip, drop, order: "strength" });
      const b = selectPairs({ pairs: shuffled, flip, drop, order: "strength" });
      expect(b.pairs).toEqual(a.pairs);
      expect(b.dropped).toEqual(a.dropped);
      expect(b.strengths).toEqual(a.strengths);
      const c = selectPairs({ pairs: shuffled, flip, drop });
      const pos = new Map(shuffled.map((p, i) => [p.id, i]));
      expect(c.pairs.map((p) => pos.get(p.id)!)).toEqual([...c.pairs.map((p) => pos.get(p.id)!)].sort((x, y) => x - y));
      expect([...c.pairs].sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual([...a.pairs].sort((x, y) => (x.id < y.id ? -1 : 1)));
    },
  );

  test.prop([fc.integer({ min: 1, max: 4 }).chain(arbPairs), fractions], { numRuns: 50 })("is deterministic", (pairs, [flip, drop]) => {
    expect(selectPairs({ pairs, flip, drop })).toEqual(selectPairs({ pairs, flip, drop }));
  });
});
