// The `sketch` switch end to end: `"minhash"` gives what the paper's k-permutation MinHash gives, both sketches keep
// the same records on planted duplicates, and saved indexes record the sketch.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { corpus, randomText } from "../test/texts.js";
import { dedup } from "./dedup.js";
import { MinHasher, hashSchemeOf, type Sketch } from "./minhasher.js";
import { createSignatureWorkers } from "./signature-pool.js";
import { normalizeText } from "./normalize-text.js";
import { splitmix32 } from "@sfmed/schema/io";
import { UnionFind } from "./union-find.js";

const docsOf = (texts: string[]) => texts.map((text, i) => ({ id: `d${i}`, text }));

/** Clusters without verification, straight from a sketch's signatures: two docs meet when a whole band agrees. */
function bandReference(texts: string[], sketch: Sketch, bands: number, rows: number): { keep: number[]; cluster: number[] } {
  const h = new MinHasher({ sketch });
  const sigs = texts.map((t) => {
    const set = h.shingleHashes(normalizeText(t));
    return set.length ? Array.from(h.signatureOfHashes(set)) : null;
  });
  const uf = new UnionFind(texts.length);
  const meet = (a: number[], b: number[]) => {
    for (let band = 0; band < bands; band++) {
      let same = true;
      for (let r = band * rows; r < (band + 1) * rows && same; r++) same = a[r] === b[r];
      if (same) return true;
    }
    return false;
  };
  for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) if (sigs[i] && sigs[j] && meet(sigs[i]!, sigs[j]!)) uf.union(i, j);
  const first = new Map<number, number>();
  const size = new Map<number, number>();
  texts.forEach((_, d) => {
    const r = uf.find(d);
    if (!first.has(r)) first.set(r, d);
    size.set(r, (size.get(r) ?? 0) + 1);
  });
  const cluster = texts.map((_, d) => (size.get(uf.find(d))! > 1 ? first.get(uf.find(d))! : -1));
  return { keep: texts.map((_, d) => (first.get(uf.find(d)) === d ? 1 : 0)), cluster };
}

/** A copy of `text` with `k` characters substituted: J ≥ (n − 5k) / (n + 5k) against it for 5-grams. */
function substitute(next: () => number, text: string, k: number): string {
  const cs = Array.from(text);
  for (let e = 0; e < k; e++) cs[(next() >>> 0) % cs.length] = "㊣";
  return cs.join("");
}

/** Planted duplicates: copies with one or two substitutions (J ≥ 0.87) of unrelated random texts (J near 0). */
function planted(seed: number, n: number): { texts: string[]; truth: number[] } {
  const next = splitmix32(seed);
  const texts: string[] = [];
  const truth: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0 && next() >>> 0 < 2 ** 31) {
      const base = (next() >>> 0) % i;
      texts.push(substitute(next, texts[truth[base]!]!, 1 + ((next() >>> 0) % 2)));
      truth.push(truth[base]!);
    } else {
      texts.push(randomText(next, 150 + ((next() >>> 0) % 40)));
      truth.push(i);
    }
  }
  return { texts, truth };
}

describe("sketch option", () => {
  // loose banding (4 rows) so that the two sketches' candidates differ often: a run that ignored the option
  // would fail the "minhash" case
  test.prop([fc.integer({ min: 0, max: 1 << 20 }), fc.constantFrom<Sketch>("oph", "minhash"), fc.constantFrom(0, 1)], { numRuns: 12 })(
    "without verification, clusters are exactly the band collisions of that sketch's signatures",
    async (seed, sketch, threads) => {
      const texts = corpus(seed, 50, { dupShare: 0.6, maxRate: 0.3 });
      const r = await dedup(docsOf(texts), { threads, sketch, verify: "none", bands: 32, rows: 4 });
      const want = bandReference(texts, sketch, 32, 4);
      expect(Array.from(r.cluster)).toEqual(want.cluster);
      expect(Array.from(r.keep)).toEqual(want.keep);
      expect(r.report.params).toMatchObject({ sketch, hashScheme: hashSchemeOf(sketch) });
    },
    60_000,
  );

  it("the two sketches' band collisions differ on these corpora (so the property above tells them apart)", () => {
    const differs = [1, 2, 3].some((seed) => {
      const texts = corpus(seed, 50, { dupShare: 0.6, maxRate: 0.3 });
      return JSON.stringify(bandReference(texts, "oph", 32, 4)) !== JSON.stringify(bandReference(texts, "minhash", 32, 4));
    });
    expect(differs).toBe(true);
  });

  it.each([11, 12, 13])("both sketches keep the same records on planted duplicates (seed %i), one per planted group", async (seed) => {
    const { texts, truth } = planted(seed, 120);
    const oph = await dedup(docsOf(texts), { threads: 0 });
    const mh = await dedup(docsOf(texts), { threads: 0, sketch: "minhash" });
    expect(Array.from(mh.keep)).toEqual(Array.from(oph.keep));
    expect(Array.from(oph.keep)).toEqual(truth.map((g, i) => (g === i ? 1 : 0)));
  });

  it("saves the sketch's scheme in an index and refuses an index of the other sketch, naming both", async () => {
    const dir = await tempDir();
    const docs = docsOf(corpus(4, 40, { dupShare: 0.3 }));
    const idx = path.join(dir, "mh");
    await dedup(docs, { threads: 0, sketch: "minhash", saveIndex: idx });
    expect(JSON.parse(readFileSync(path.join(idx, "manifest.json"), "utf8")).hashScheme).toBe(hashSchemeOf("minhash"));
    const again = await dedup(docs, { threads: 0, sketch: "minhash", against: idx });
    expect(again.report.counts.removedByIndex).toBe(40);
    const esc = (s: string) => s.replace(/[+.]/g, "\\$&");
    await expect(dedup(docs, { threads: 0, against: idx })).rejects.toMatchObject({
      name: "DedupError",
      code: "INDEX_MISMATCH",
      field: "hashScheme",
      message: expect.stringMatching(new RegExp(`${esc(hashSchemeOf("minhash"))}.*${esc(hashSchemeOf("oph"))}`)),
    });
  });

  it("signs on the caller's workers when given, leaving them open for the next run", async () => {
    const docs = docsOf(corpus(8, 60, { dupShare: 0.5 }));
    const here = await dedup(docs, { threads: 0, sketch: "minhash" });
    const workers = createSignatureWorkers({ threads: 1 });
    try {
      for (const sketch of ["minhash", "oph"] as const) {
        const r = await dedup(docs, { threads: 1, sketch, workers });
        if (sketch === "minhash") expect(Array.from(r.cluster)).toEqual(Array.from(here.cluster));
        expect(workers.closed).toBe(false);
      }
    } finally {
      await workers.close();
    }
    // closed workers are these, not the shared ones: the run cannot sign
    await expect(dedup(docs, { threads: 1, workers })).rejects.toThrow();
  });

  it("rejects an unknown sketch", async () => {
    await expect(dedup(docsOf(["一二三四五六"]), { threads: 0, sketch: "bbit" as Sketch })).rejects.toMatchObject({ code: "BAD_OPTION", field: "sketch" });
  });
});
