import { describe, expect, it } from "vitest";
import { UnionFind } from "../union-find.js";
import { summarizeClusters } from "./clusters.js";
import { chooseSurvivors } from "./keeper.js";

/** Index documents 0..M−1, then input records; `edges` join documents; survivors: index first, then input order. */
function summary(M: number, sources: number[], edges: Array<[number, number]>, giantLimit = 1000, alive1?: Uint8Array) {
  const N = M + sources.length;
  const uf = new UnionFind(N);
  for (const [a, b] of edges) uf.union(a, b);
  const best = chooseSurvivors(uf, (a, b) => a < b, alive1);
  const docs = { M, N, count: sources.length, sourceOf: Int32Array.from([...Array(M).fill(0), ...sources]), sourceNames: ["x", "y"] };
  return summarizeClusters(docs, uf, best, alive1, giantLimit, { compSize: new Int32Array(N), firstPos: new Int32Array(N) });
}

describe("summarizeClusters", () => {
  it("names clusters by their first input member, counts index matches, and keeps singletons", () => {
    // documents: 0 = index; 1..5 = input 0..4
    const s = summary(1, [1, 1, 2, 2, 1], [
      [0, 1],
      [2, 3],
      [3, 4],
    ]);
    expect(Array.from(s.keep)).toEqual([0, 1, 0, 0, 1]);
    expect(Array.from(s.cluster)).toEqual([0, 1, 1, 1, -1]);
    expect(s).toMatchObject({ kept: 2, removedByIndex: 1, clusters: 2, largest: 3, clusterSizes: { "2": 1, "3": 1 }, giants: [], warnings: [] });
    expect(s.perSource).toEqual({
      x: { input: 3, kept: 2, removedWithinSource: 0, removedAcrossSources: 1 },
      y: { input: 2, kept: 0, removedWithinSource: 0, removedAcrossSources: 2 },
    });
  });

  it("leaves out clusters of index documents only and warns about giants, largest first", () => {
    const s = summary(2, [1, 1, 1, 1, 1, 1], [
      [0, 1],
      [2, 3],
      [3, 4],
      [5, 6],
      [6, 7],
      [4, 5],
    ], 3);
    expect(s.clusters).toBe(1);
    expect(s.clusterSizes).toEqual({ "6": 1 });
    expect(s.giants).toEqual([{ cluster: 0, size: 6 }]);
    expect(s.warnings[0]).toMatch(/giant cluster 0 has 6 members \(limit 3\)/);
  });

  it("tells removals of the per-source stage from those of the global one", () => {
    // input 0 and 1 merged within source x (1 removed there); 0 and 2 merged globally (2 removed there)
    const alive1 = Uint8Array.of(1, 0, 1);
    const s = summary(0, [1, 1, 2], [
      [0, 1],
      [0, 2],
    ], 1000, alive1);
    expect(s.perSource.x).toEqual({ input: 2, kept: 1, removedWithinSource: 1, removedAcrossSources: 0 });
    expect(s.perSource.y).toEqual({ input: 1, kept: 0, removedWithinSource: 0, removedAcrossSources: 1 });
  });
});
