import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { byPriority } from "../keep-policy.js";
import { UnionFind } from "../union-find.js";
import { chooseSurvivors, survivorMask, survivorOrder } from "./keeper.js";

const table = (M: number, lengths: number[], sources: string[] = []) => ({
  M,
  ids: lengths.map((_, d) => `id${d}`),
  sourceOf: Int32Array.from(lengths, (_, d) => (d < M ? 0 : 1 + Math.max(0, sources.indexOf(sources[d - M] ?? "")))),
  sourceNames: sources.length ? sources : [""],
  lengths: Int32Array.from(lengths),
  scores: undefined,
});

describe("survivorOrder", () => {
  it("puts index documents first, then the policy, then input order", () => {
    const longest = survivorOrder(table(1, [5, 3, 9, 9]), "longest");
    expect(longest(0, 2)).toBe(true); // index document over a longer input record
    expect(longest(2, 1)).toBe(true);
    expect(longest(2, 3)).toBe(true); // tie: first
    expect(longest(3, 2)).toBe(false);
    const first = survivorOrder(table(0, [1, 9]), "first");
    expect(first(0, 1)).toBe(true);
  });

  it("hands comparators DocInfo with input positions and falls back to input order on 0 or NaN", () => {
    const seen: number[] = [];
    const cmp = survivorOrder(table(2, [0, 0, 4, 7]), (a, b) => {
      seen.push(a.index, b.index);
      return Number.NaN;
    });
    expect(cmp(3, 2)).toBe(false);
    expect(seen).toEqual([1, 0]);
    const bySource = survivorOrder(table(0, [4, 4], ["a", "b"]), byPriority({ sources: ["b"] }));
    expect(bySource(1, 0)).toBe(true);
  });
});

describe("chooseSurvivors", () => {
  test.prop([fc.array(fc.nat(20), { minLength: 1, maxLength: 40 }), fc.array(fc.tuple(fc.nat(39), fc.nat(39)), { maxLength: 40 }), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 })])(
    "gives each cluster's best living member under the order (brute force)",
    (lengths, edges, aliveBits) => {
      const n = lengths.length;
      const uf = new UnionFind(n);
      for (const [a, b] of edges) if (a < n && b < n) uf.union(a, b);
      const better = survivorOrder(table(0, lengths), "longest");
      const alive = Uint8Array.from(aliveBits.slice(0, n), Number);
      const best = chooseSurvivors(uf, better, alive);
      for (let r = 0; r < n; r++) {
        const members = [...Array(n).keys()].filter((d) => uf.find(d) === r && alive[d]);
        const want = members.reduce((m, d) => (m < 0 || better(d, m) ? d : m), -1);
        expect(best[r]).toBe(want);
      }
      const mask = survivorMask(uf, chooseSurvivors(uf, better));
      expect(mask.reduce((a, b) => a + b, 0)).toBe(uf.count);
    },
  );
});
