import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { corpus } from "../test/texts.js";
import { dedup, filterKept, type DedupOptions, type DedupProgress, type DedupResult } from "./dedup.js";
import { byPriority } from "./keep-policy.js";
import { normalizeText } from "./normalize-text.js";
import { jaccard, shingles } from "./shingles.js";

interface Doc {
  id: string;
  source?: string;
  text: string;
}

const docsOf = (texts: string[], source?: (i: number) => string): Doc[] =>
  texts.map((text, i) => ({ id: `d${i}`, text, ...(source ? { source: source(i) } : {}) }));

const run = (docs: Doc[], opts: DedupOptions<Doc> = {}) => dedup(docs, { threads: 0, ...opts });

function clustersOf(r: DedupResult): Map<number, number[]> {
  const m = new Map<number, number[]>();
  r.cluster.forEach((c, i) => {
    if (c >= 0) m.set(c, [...(m.get(c) ?? []), i]);
  });
  return m;
}

/** Exact pairs at or above the threshold, by brute force. */
function truePairs(texts: string[], t: number): Array<[number, number]> {
  const sets = texts.map((s) => shingles(normalizeText(s)));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) if (jaccard(sets[i]!, sets[j]!) >= t) out.push([i, j]);
  return out;
}

const seedArb = fc.integer({ min: 0, max: 1 << 20 });

describe("dedup", () => {
  test.prop([seedArb], { numRuns: 15 })("keeps exactly one survivor per cluster and every singleton", async (seed) => {
    const r = await run(docsOf(corpus(seed, 60, { dupShare: 0.5 })));
    for (const [c, members] of clustersOf(r)) {
      expect(members.length).toBeGreaterThan(1);
      expect(members[0]).toBe(c);
      expect(members.filter((i) => r.keep[i]).length).toBe(1);
    }
    r.cluster.forEach((c, i) => {
      if (c < 0) expect(r.keep[i]).toBe(1);
    });
    expect(r.report.counts.kept + r.report.counts.removed).toBe(60);
    expect(r.report.counts.kept).toBe(r.keep.reduce((a, b) => a + b, 0));
  });

  test.prop([seedArb, fc.array(fc.nat(39), { minLength: 1, maxLength: 10 })], { numRuns: 15 })(
    "puts identical texts (after normalisation) in one cluster",
    async (seed, copies) => {
      const texts = corpus(seed, 40, { dupShare: 0.2 });
      for (const i of copies) texts.push(`  ${texts[i]!}。`);
      const r = await run(docsOf(texts));
      copies.forEach((i, k) => {
        const j = 40 + k;
        expect(r.cluster[j]).toBeGreaterThanOrEqual(0);
        expect(r.cluster[j]).toBe(r.cluster[i]);
      });
    },
  );

  test.prop([seedArb], { numRuns: 10 })("finds every pair at or above the threshold and merges nothing unrelated", async (seed) => {
    const texts = corpus(seed, 80, { dupShare: 0.5, maxRate: 0.15 });
    const r = await run(docsOf(texts));
    for (const [i, j] of truePairs(texts, 0.8)) expect(r.cluster[i]).toBe(r.cluster[j]);
    // every cluster is held together by verified edges: each member has a partner at J ≥ t inside it
    const sets = texts.map((s) => shingles(normalizeText(s)));
    for (const members of clustersOf(r).values()) {
      for (const i of members) expect(members.some((j) => j !== i && jaccard(sets[i]!, sets[j]!) >= 0.8)).toBe(true);
    }
  });

  test.prop([fc.array(fc.string({ unit: "grapheme", maxLength: 4 }), { minLength: 2, maxLength: 30 })], { numRuns: 30 })(
    "never merges empty texts, nor short texts that differ",
    async (shorts) => {
      const texts = [...shorts, "", "，。！", "   "];
      const r = await run(docsOf(texts));
      texts.forEach((t, i) => {
        const n = normalizeText(t);
        if (n === "") expect(r.cluster[i]).toBe(-1);
        else if (r.cluster[i]! >= 0) {
          for (const j of clustersOf(r).get(r.cluster[i]!)!) expect(normalizeText(texts[j]!)).toBe(n);
        }
      });
      expect(r.report.counts.empty).toBe(texts.filter((t) => normalizeText(t) === "").length);
    },
  );

  test.prop([seedArb], { numRuns: 8 })("is deterministic for a seed and input order", async (seed) => {
    const docs = docsOf(corpus(seed, 70, { dupShare: 0.5 }));
    const a = await run(docs, { seed: 5, batchSize: 16 });
    const b = await run(docs, { seed: 5, batchSize: 7 });
    expect(Array.from(b.keep)).toEqual(Array.from(a.keep));
    expect(Array.from(b.cluster)).toEqual(Array.from(a.cluster));
    expect(b.report.counts).toEqual(a.report.counts);
  });

  it("gives the same result on worker threads as on the calling thread", async () => {
    const docs = docsOf(corpus(99, 400, { dupShare: 0.4 }));
    const a = await run(docs);
    const b = await dedup(docs, { threads: 2, batchSize: 50 });
    expect(b.report.params.threads).toBe(2);
    expect(Array.from(b.keep)).toEqual(Array.from(a.keep));
    expect(Array.from(b.cluster)).toEqual(Array.from(a.cluster));
    expect(a.report.counts.removed).toBeGreaterThan(50);
  });

  test.prop([seedArb], { numRuns: 10 })("per-source then global equals deduping each source, then all survivors", async (seed) => {
    const texts = corpus(seed, 90, { dupShare: 0.6 });
    const sources = ["a", "b", "c"];
    const docs = docsOf(texts, (i) => sources[(i * 7 + seed) % 3]!);
    const two = await run(docs, { perSource: true, keep: "longest" });
    // the paper's procedure by hand
    const survivors: Doc[] = [];
    const keptBySource = new Set<string>();
    for (const s of sources) {
      const part = docs.filter((d) => d.source === s);
      const r = await run(part, { keep: "longest" });
      part.forEach((d, i) => r.keep[i] && keptBySource.add(d.id));
    }
    for (const d of docs) if (keptBySource.has(d.id)) survivors.push(d);
    const g = await run(survivors, { keep: "longest" });
    const expected = new Set(survivors.filter((_, i) => g.keep[i]).map((d) => d.id));
    expect(new Set(docs.filter((_, i) => two.keep[i]).map((d) => d.id))).toEqual(expected);
    let within = 0;
    let across = 0;
    for (const s of Object.values(two.report.perSource)) {
      within += s.removedWithinSource;
      across += s.removedAcrossSources;
    }
    expect(within).toBe(docs.length - survivors.length);
    expect(across).toBe(survivors.length - expected.size);
  });

  it("chooses survivors by policy", async () => {
    const base = "患者男性五十岁反复胸闷气短三年活动后加重夜间不能平卧双下肢水肿一周加重伴咳嗽咳痰";
    const docs: Doc[] = [
      { id: "z", source: "web", text: base },
      { id: "y", source: "book", text: base + "。" },
      { id: "x", source: "web", text: base + "医生" },
    ];
    const first = await run(docs, { threshold: 0.7 });
    expect(Array.from(first.keep)).toEqual([1, 0, 0]);
    const longest = await run(docs, { threshold: 0.7, keep: "longest" });
    expect(Array.from(longest.keep)).toEqual([0, 0, 1]);
    const bySource = await run(docs, { threshold: 0.7, keep: byPriority({ sources: ["book"] }) });
    expect(Array.from(bySource.keep)).toEqual([0, 1, 0]);
    const byId = await run(docs, { threshold: 0.7, keep: (a, b) => ((a.id ?? "") < (b.id ?? "") ? -1 : 1) });
    expect(Array.from(byId.keep)).toEqual([0, 0, 1]);
    expect(first.report.params.keep).toBe("first");
    expect(byId.report.params.keep).toBe("comparator");
  });

  it("verifies candidates exactly, by estimate, or not at all", async () => {
    const docs = docsOf(corpus(7, 300, { dupShare: 0.5, maxRate: 0.2 }));
    const exact = await run(docs);
    const est = await run(docs, { verify: "estimate" });
    const none = await run(docs, { verify: "none" });
    expect(exact.report.counts.rejectedPairs).toBeGreaterThan(0);
    expect(none.report.counts.rejectedPairs).toBe(0);
    // no verification merges more; the estimate lands near the exact answer
    expect(none.report.counts.removed).toBeGreaterThan(exact.report.counts.removed);
    expect(Math.abs(est.report.counts.removed - exact.report.counts.removed)).toBeLessThanOrEqual(0.1 * exact.report.counts.removed + 3);
    expect(exact.report.counts.removedBelowThreshold).not.toBeNull();
    expect(est.report.counts.removedBelowThreshold).toBeNull();
  });

  it("reports giant clusters loudly", async () => {
    const base = "咳嗽三天伴有发热最高体温三十九度无明显咽痛无胸闷气短既往体健";
    const texts = Array.from({ length: 30 }, (_, i) => `${base}${i % 3}`);
    const r = await run(docsOf(texts), { giantClusterSize: 10 });
    expect(r.report.giantClusters).toEqual([{ cluster: 0, size: 30 }]);
    expect(r.report.warnings[0]).toMatch(/giant cluster 0 has 30 members/);
    expect(r.report.clusterSizes).toEqual({ "30": 1 });
  });

  it("saves an index and removes new records that match it", async () => {
    const dir = await tempDir();
    const texts = corpus(11, 200, { dupShare: 0.3 });
    const old = docsOf(texts.slice(0, 120));
    const fresh = docsOf(texts.slice(120)).map((d) => ({ ...d, id: `n${d.id}` }));
    const idx = path.join(dir, "idx");
    const first = await run(old, { saveIndex: idx });
    expect(existsSync(path.join(idx, "manifest.json"))).toBe(true);
    const against = await run(fresh, { against: idx, saveIndex: path.join(dir, "idx2") });
    // the same as deduping old + new together with "first", looking only at the new part
    const together = await run([...old, ...fresh]);
    expect(Array.from(against.keep)).toEqual(Array.from(together.keep.subarray(120)));
    expect(against.report.counts.indexDocs).toBe(first.report.counts.kept);
    expect(against.report.counts.removedByIndex).toBeGreaterThan(0);
    // the second index holds the old kept documents plus the new kept ones
    const again = await run(fresh, { against: path.join(dir, "idx2") });
    expect(again.report.counts.kept).toBe(0);
    await expect(run(fresh, { against: idx, numPerm: 64 })).rejects.toMatchObject({ name: "DedupError", code: "INDEX_MISMATCH", field: "numPerm" });
    await expect(run(fresh, { against: idx, verify: "estimate" })).rejects.toMatchObject({ code: "INDEX_MISMATCH", field: "verify" });
    await expect(run(fresh, { against: path.join(dir, "nope") })).rejects.toMatchObject({ code: "INDEX_MISSING" });
  });

  it("saves an index given with a trailing slash, over an existing one, without losing either run", async () => {
    const dir = await tempDir();
    const texts = corpus(12, 80, { dupShare: 0.3 });
    const idx = path.join(dir, "idx") + "/";
    const first = await run(docsOf(texts.slice(0, 40)), { saveIndex: idx });
    expect(existsSync(path.join(dir, "idx", "manifest.json"))).toBe(true);
    // the second save replaces the first (the README writes `--index DIR/`)
    const second = await run(docsOf(texts.slice(40)), { saveIndex: idx });
    expect(readdirSync(dir)).toEqual(["idx"]);
    const again = await run(docsOf(texts.slice(40)), { against: idx });
    expect(again.report.counts.kept).toBe(0);
    expect(again.report.counts.indexDocs).toBe(second.report.counts.kept);
    expect(first.report.counts.kept).toBeGreaterThan(0);
  });

  it("reads dialogues and named fields, streams async input, and reports progress", async () => {
    async function* gen() {
      yield { id: "1", messages: [{ role: "user", content: "头痛三天怎么办，需要吃什么药" }, { role: "assistant", content: "建议休息，多喝水，必要时就医" }] };
      yield { id: "2", messages: [{ role: "user", content: "头痛三天怎么办？需要吃什么药？" }, { role: "assistant", content: "建议休息、多喝水，必要时就医。" }] };
      yield { id: "3", messages: [{ role: "user", content: "发烧了" }, { role: "assistant", content: "量体温" }] };
    }
    const events: DedupProgress[] = [];
    const r = await dedup(gen(), { threads: 0, onProgress: (p) => events.push(p) });
    expect(Array.from(r.keep)).toEqual([1, 0, 1]);
    expect(events.some((e) => e.phase === "signatures" && e.total === 3)).toBe(true);
    expect(events.filter((e) => e.phase === "global")).toHaveLength(r.report.params.bands);
    const kept = [];
    for await (const d of filterKept(gen(), r)) kept.push(d.id);
    expect(kept).toEqual(["1", "3"]);
    const byField = await run([{ id: "a", text: "x", q: "同一个问题的文本内容" } as Doc, { id: "b", text: "y", q: "同一个问题的文本内容" } as Doc], { field: "q" });
    expect(Array.from(byField.keep)).toEqual([1, 0]);
  });

  it("names the record and field when there is no text, and rejects bad options", async () => {
    await expect(run([{ id: "a", text: "好" }, { id: "b" } as unknown as Doc])).rejects.toMatchObject({ name: "DedupError", code: "NO_TEXT", line: 2, field: "messages" });
    await expect(run([], { threshold: 2 })).rejects.toMatchObject({ code: "BAD_OPTION", field: "threshold" });
    await expect(run([], { bands: 100, rows: 2 })).rejects.toMatchObject({ code: "BAD_OPTION" });
    await expect(run([], { keep: "random" as "first" })).rejects.toMatchObject({ field: "keep" });
    const empty = await run([]);
    expect(empty.count).toBe(0);
  });
  it("counts every one of many sources (more than a byte's worth)", async () => {
    const texts = corpus(5, 700, { dupShare: 0.3 });
    const docs = docsOf(texts, (i) => `s${i % 300}`);
    const a = await run(docs, { perSource: true });
    expect(Object.keys(a.report.perSource)).toHaveLength(300);
    expect(a.report.perSource.s7!.input).toBe(docs.filter((d) => d.source === "s7").length);
    // the same run with the sources renamed gives the same clusters
    const b = await run(docs.map((d) => ({ ...d, source: `renamed-${d.source}` })), { perSource: true });
    expect(Array.from(b.keep)).toEqual(Array.from(a.keep));
    expect(Array.from(b.cluster)).toEqual(Array.from(a.cluster));
  });
});
