import { tempDir } from "@sfmed/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { corpus } from "../../test/texts.js";
import type { LoadedIndex } from "../index-store.js";
import { normalizeText } from "../normalize-text.js";
import { jaccard, shingles } from "../shingles.js";
import { createBatchComputer } from "../signature-batch.js";
import { UnionFind } from "../union-find.js";
import { DocCollector } from "./doc-table.js";
import { resolveParams } from "./params.js";
import { PairVerifier } from "./verify.js";

const open: DocCollector[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

/** Read/sign at unit scale: `index` texts as a saved index's documents, then `texts` as input records. */
async function tableOf(texts: string[], opts: { verify?: "exact" | "estimate"; threshold?: number; index?: string[] } = {}) {
  const p = resolveParams({ verify: opts.verify ?? "exact", threshold: opts.threshold ?? 0.8, numPerm: 64, bands: 16, rows: 4, threads: 0 }, false);
  const compute = createBatchComputer({ numPerm: 64, seed: 1, ngram: 5, bands: 16, rows: 4, keepShingles: p.verify === "exact", keepSignatures: p.verify === "estimate" });
  const c = new DocCollector(p, await tempDir(), false);
  open.push(c);
  if (opts.index) {
    const r = compute(opts.index);
    const bandKeys = Array.from({ length: 16 }, (_, b) => Int32Array.from({ length: 2 * r.count }, (_, k) => r.bandKeys[(k >> 1) * 32 + 2 * b + (k & 1)]!));
    const idx: LoadedIndex = {
      manifest: { count: r.count } as LoadedIndex["manifest"],
      ids: opts.index.map(() => null),
      bandKeys,
      sizes: r.sizes,
      ...(r.shingles ? { shingles: r.shingles } : {}),
      ...(r.signatures ? { signatures: r.signatures } : {}),
    };
    c.addIndex(idx);
  }
  for (const t of texts) c.addRecord("s", t.length, null, Number.NaN);
  // two batches, so shingle sets straddle a batch and the 64-document offset blocks
  const cut = Math.floor(texts.length / 3);
  c.addBatch(compute(texts.slice(0, cut)));
  c.addBatch(compute(texts.slice(cut)));
  return { docs: c.finish(), p };
}

const setOf = (t: string) => shingles(normalizeText(t));

describe("PairVerifier", () => {
  it("reads back each document's shingle set: exact Jaccard equals the string-set Jaccard", async () => {
    const texts = corpus(5, 150, { dupShare: 0.6, maxRate: 0.3 });
    const { docs, p } = await tableOf(texts);
    const v = new PairVerifier(docs, p, new UnionFind(docs.N));
    for (let k = 0; k < 300; k++) {
      const i = (k * 37) % 150;
      const j = (k * 101 + 7) % 150;
      expect(v.jaccardExact(i, j)).toBeCloseTo(jaccard(setOf(texts[i]!), setOf(texts[j]!)), 9);
    }
  });

  it("merges pairs at or above the threshold, checks a rejected pair once, and skips joined ones", async () => {
    const a = "患者男性五十岁，反复胸闷气短三年，活动后加重，夜间不能平卧，双下肢水肿一周";
    const texts = [a, `${a}。`, "孩子发烧三十八度五，咳嗽有痰，精神还可以，需要去医院吗", `${a}。`];
    const { docs, p } = await tableOf(texts);
    const uf = new UnionFind(docs.N);
    const seen: Array<[number, number, boolean]> = [];
    const v = new PairVerifier(docs, p, uf, (x, y, ok) => seen.push([x, y, ok]));
    v.tryPair(0, 1);
    v.tryPair(0, 2);
    v.tryPair(0, 2); // rejected before: not checked again
    v.tryPair(1, 0); // joined already
    v.tryPair(3, 1);
    v.tryPair(0, 3); // joined through 1
    expect(seen).toEqual([
      [0, 1, true],
      [0, 2, false],
      [3, 1, true],
    ]);
    expect([v.verified, v.accepted]).toEqual([3, 2]);
    expect(uf.connected(0, 3)).toBe(true);
    expect(uf.connected(0, 2)).toBe(false);
  });

  it("never pairs two index documents and reports index documents as −1, −2, …", async () => {
    const a = "头痛三天伴有恶心呕吐，体温正常，血压偏高，需要做什么检查";
    const { docs, p } = await tableOf([`${a}！`], { index: [a, a] });
    const seen: Array<[number, number, boolean]> = [];
    const v = new PairVerifier(docs, p, new UnionFind(docs.N), (x, y, ok) => seen.push([x, y, ok]));
    v.tryPair(0, 1);
    v.tryPair(1, 2);
    expect(seen).toEqual([[-2, 0, true]]);
  });

  it("confirms by the signature estimate when asked", async () => {
    const texts = corpus(9, 40, { dupShare: 0.5, maxRate: 0.1 });
    const { docs, p } = await tableOf(texts, { verify: "estimate", threshold: 0.5 });
    const v = new PairVerifier(docs, p, new UnionFind(docs.N));
    for (let i = 0; i < 40; i++) {
      for (let j = i + 1; j < 40; j++) {
        const J = jaccard(setOf(texts[i]!), setOf(texts[j]!));
        // 64 permutations: far from the threshold the estimate cannot be on the wrong side
        if (J > 0.9) expect(v.isDuplicate(i, j)).toBe(true);
        if (J < 0.1) expect(v.isDuplicate(i, j)).toBe(false);
      }
    }
  });

  it("counts removed records below the threshold against their survivor (chained clusters)", async () => {
    const base = "一二三四五六七八九十甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥";
    const mid = `${base.slice(0, 26)}天地玄黄宇宙洪荒`;
    const far = `${base.slice(0, 18)}天地玄黄宇宙洪荒日月盈昃辰宿列张`;
    const [j01, j12, j02] = [jaccard(setOf(base), setOf(mid)), jaccard(setOf(mid), setOf(far)), jaccard(setOf(base), setOf(far))];
    expect(j02).toBeLessThan(Math.min(j01, j12));
    const threshold = (j02 + Math.min(j01, j12)) / 2;
    const { docs, p } = await tableOf([base, mid, far], { threshold });
    const uf = new UnionFind(3);
    const v = new PairVerifier(docs, p, uf);
    expect([v.isDuplicate(0, 1), v.isDuplicate(1, 2), v.isDuplicate(0, 2)]).toEqual([true, true, false]);
    uf.union(0, 1);
    uf.union(1, 2);
    const best = Int32Array.of(-1, -1, -1);
    best[uf.find(0)] = 0;
    expect(v.countBelowThreshold(Uint8Array.of(1, 0, 0), best)).toBe(1);
  });
});
