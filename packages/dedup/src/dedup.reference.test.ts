// The pipeline against a straightforward reference: exact Jaccard over all pairs, union-find, survivors by policy.
import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { corpus } from "../test/texts.js";
import { dedup } from "./dedup.js";
import { normalizeText } from "./normalize-text.js";
import { jaccard, shingles } from "./shingles.js";
import { UnionFind } from "./union-find.js";

interface Doc {
  id: string;
  source: string;
  text: string;
}

/** All-pairs dedup as the docs describe it: no LSH, no spills, no buffers. */
function reference(docs: Doc[], opts: { threshold: number; keep: "first" | "longest"; perSource: boolean }) {
  const n = docs.length;
  const sets = docs.map((d) => shingles(normalizeText(d.text)));
  const dup = (i: number, j: number) => sets[i]!.length > 0 && sets[j]!.length > 0 && jaccard(sets[i]!, sets[j]!) >= opts.threshold - 1e-12;
  const better = (a: number, b: number) => (opts.keep === "longest" && docs[a]!.text.length !== docs[b]!.text.length ? docs[a]!.text.length > docs[b]!.text.length : a < b);
  const survivors = (uf: UnionFind, alive: (d: number) => boolean) => {
    const best = new Map<number, number>();
    for (let d = 0; d < n; d++) {
      if (!alive(d)) continue;
      const r = uf.find(d);
      const cur = best.get(r);
      if (cur === undefined || better(d, cur)) best.set(r, d);
    }
    return best;
  };
  const uf = new UnionFind(n);
  let alive = (_: number) => true;
  if (opts.perSource) {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (docs[i]!.source === docs[j]!.source && dup(i, j)) uf.union(i, j);
    const best1 = survivors(uf, () => true);
    const alive1 = docs.map((_, d) => best1.get(uf.find(d)) === d);
    alive = (d) => alive1[d]!;
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (alive(i) && alive(j) && dup(i, j)) uf.union(i, j);
  const best = survivors(uf, alive);
  const keep = docs.map((_, d) => (best.get(uf.find(d)) === d ? 1 : 0));
  const first = new Map<number, number>();
  const size = new Map<number, number>();
  for (let d = 0; d < n; d++) {
    const r = uf.find(d);
    if (!first.has(r)) first.set(r, d);
    size.set(r, (size.get(r) ?? 0) + 1);
  }
  const cluster = docs.map((_, d) => (size.get(uf.find(d))! > 1 ? first.get(uf.find(d))! : -1));
  // removed records less similar than the threshold to their own survivor (chained clusters)
  const below = keep.filter((k, d) => !k && best.has(uf.find(d)) && jaccard(sets[d]!, sets[best.get(uf.find(d))!]!) < opts.threshold - 1e-12).length;
  return { keep, cluster, clusters: [...size.values()].filter((s) => s > 1).length, below };
}

describe("dedup equals the all-pairs reference", () => {
  test.prop(
    [
      fc.integer({ min: 0, max: 1 << 20 }),
      fc.constantFrom("first" as const, "longest" as const),
      fc.boolean(),
      fc.constantFrom(0.7, 0.8, 0.9),
      fc.integer({ min: 1, max: 3 }),
      fc.constantFrom("oph" as const, "minhash" as const),
    ],
    // a run is one all-pairs reference plus one dedup over 40 documents (about 0.1 s alone); 15 runs keep the
    // file at a few seconds on a loaded machine, far below the per-test limit below
    { numRuns: 15 },
  )("same keep mask, clusters and counts (exact verification, sources mixed, either sketch)", async (seed, keep, perSource, threshold, sources, sketch) => {
    const docs = corpus(seed, 40, { dupShare: 0.5, maxRate: 0.12 }).map((text, i) => ({ id: `d${i}`, source: `s${(i * 7) % sources}`, text }));
    // 64 bands of 2 rows: a pair at J = 0.7 is a candidate with probability 1 − (1 − 0.49)^64 ≈ 1 − 10^−19, so the
    // default banding's rare misses next to the threshold do not blur the comparison (many more false candidates
    // go to the verifier instead)
    const r = await dedup(docs, { threads: 0, keep, perSource, threshold, sketch, bands: 64, rows: 2 });
    const want = reference(docs, { threshold, keep, perSource });
    expect(Array.from(r.keep)).toEqual(want.keep);
    expect(Array.from(r.cluster)).toEqual(want.cluster);
    expect(r.report.counts).toMatchObject({ input: 40, kept: want.keep.filter(Boolean).length, clusters: want.clusters, removedBelowThreshold: want.below });
  }, 180_000);
});
