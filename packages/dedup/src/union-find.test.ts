import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { UnionFind } from "./union-find.js";

function naiveComponents(n: number, edges: Array<[number, number]>): number[] {
  const label = Array.from({ length: n }, (_, i) => i);
  let changed = true;
  while (changed) {
    changed = false;
    for (const [a, b] of edges) {
      const m = Math.min(label[a]!, label[b]!);
      if (label[a] !== m || label[b] !== m) {
        label[a] = label[b] = m;
        changed = true;
      }
    }
  }
  return label;
}

describe("UnionFind", () => {
  test.prop([fc.integer({ min: 1, max: 40 }).chain((n) => fc.tuple(fc.constant(n), fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 60 })))], { numRuns: 40 })(
    "matches naive connected components",
    ([n, edges]) => {
      const uf = new UnionFind(n);
      for (const [a, b] of edges) uf.union(a, b);
      const label = naiveComponents(n, edges);
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) expect(uf.connected(a, b)).toBe(label[a] === label[b]);
      expect(uf.count).toBe(new Set(label).size);
      for (let a = 0; a < n; a++) expect(uf.setSize(a)).toBe(label.filter((l) => l === label[a]).length);
    },
  );
  it("reports repeated unions and bad elements", () => {
    const uf = new UnionFind(3);
    expect(uf.union(0, 1)).toBe(true);
    expect(uf.union(1, 0)).toBe(false);
    expect(() => uf.find(3)).toThrow(RangeError);
  });
});
