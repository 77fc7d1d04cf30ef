import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dedupJsonl, splitJsonl } from "../dedup-jsonl.js";
import { DedupError } from "../errors.js";
import { hashSchemeOf, type Sketch } from "../minhasher.js";
import { sortedOrder } from "./sign.js";
import { layout, planShards, runStage, shardedStatus, STAGES, writeShardedReport, type ShardedOptions } from "./index.js";

const ALPHABET = "患者男性五十岁反复胸闷气短三年活动后加重夜间不能平卧双下肢水肿一周孩子发烧咳嗽有痰精神还可以需要去医院吗";

/** A random corpus as JSONL files, with planted near-duplicates (edited copies) and a large bucket. */
function corpus(seed: number, docs: number): string[][] {
  const rand = fc.sample(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { seed, numRuns: docs * 40 });
  let k = 0;
  const r = (n: number) => rand[k++ % rand.length]! % n;
  const texts: string[] = [];
  const fresh = () => Array.from({ length: 20 + r(60) }, () => ALPHABET[r(ALPHABET.length)]).join("");
  const edit = (t: string) => {
    const a = [...t];
    for (let e = r(4); e > 0; e--) a[r(a.length)] = ALPHABET[r(ALPHABET.length)]!;
    return a.join("");
  };
  const lines: string[] = [];
  for (let i = 0; i < docs; i++) {
    const kind = r(10);
    let text: string;
    if (kind < 4 || texts.length === 0) text = fresh();
    else if (kind < 8) text = edit(texts[r(texts.length)]!);
    else if (kind < 9) text = texts[r(texts.length)]!;
    else text = r(3) === 0 ? "！？" : edit(texts[0]!); // empty after normalisation, or one more member of a big cluster
    texts.push(text);
    const src = ["huatuo", "toyhom", undefined][r(3)];
    lines.push(JSON.stringify({ id: `d${i}`, text, ...(src ? { source: src } : {}) }));
  }
  // three files: one with a BOM and CRLF, blank lines in between
  const a = Math.floor(docs / 3);
  const b = Math.floor((2 * docs) / 3);
  return [["\ufeff" + lines.slice(0, a).join("\r\n")], [lines.slice(a, b).join("\n\n") + "\n"], [lines.slice(b).join("\n")]];
}

async function runAll(workdir: string): Promise<void> {
  const { plan } = await shardedStatus(workdir);
  for (const stage of STAGES) for (let t = 0; t < plan.tasks[stage]; t++) await runStage(workdir, stage, t);
}

async function concatKept(workdir: string, shards: number): Promise<string> {
  const parts: string[] = [];
  for (let s = 0; s < shards; s++) parts.push(await readFile(layout.kept(workdir, s), "utf8"));
  return parts.join("");
}

async function oneMachine(files: string[], dir: string, o: Omit<ShardedOptions, "shards">): Promise<string> {
  const keep = typeof o.keep === "object" ? undefined : o.keep;
  const res = await dedupJsonl(files, { threads: 0, threshold: o.threshold, bands: o.bands, rows: o.rows, verify: o.verify, sketch: o.sketch ?? "oph", ...(keep ? { keep } : {}) });
  const out = path.join(dir, "one-machine.jsonl");
  await splitJsonl(files, res, { kept: out });
  return readFile(out, "utf8");
}

describe("sharded dedup", () => {
  it("keeps exactly the records one machine keeps, for any corpus, shard count and sketch", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1e6 }),
        fc.integer({ min: 5, max: 70 }),
        fc.oneof(fc.constantFrom(1, 4, 16), fc.integer({ min: 1, max: 24 })),
        fc.constantFrom<"first" | "longest">("first", "longest"),
        fc.constantFrom(0.5, 0.8),
        fc.constantFrom(3, 7, 262144),
        fc.constantFrom<Sketch>("oph", "minhash"),
        // unverified, the kept set is the sketch's own band collisions: a stage hashing with another sketch differs
        fc.constantFrom<"exact" | "none">("exact", "none"),
        async (seed, docs, shards, keep, threshold, runDocs, sketch, verify) => {
          const dir = await tempDir();
          const files: string[] = [];
          for (const [i, [content]] of corpus(seed, docs).entries()) {
            const f = path.join(dir, `part${i}.jsonl`);
            await writeFile(f, content!);
            files.push(f);
          }
          // few bands keep the test fast; both paths get the same ones
          const o = { threshold, bands: 4, rows: 3, keep, sketch, verify } as const;
          const expected = await oneMachine(files, dir, o);
          const work = path.join(dir, "work");
          // small runs: a shard's band rows in several sorted runs, merged again by the bucket stage
          const plan = await planShards(files, work, { shards, runDocs, ...o });
          expect(plan.params).toMatchObject({ sketch, hashScheme: hashSchemeOf(sketch) });
          await runAll(work);
          expect(await concatKept(work, shards)).toBe(expected);
          const report = await writeShardedReport(work);
          expect(report.counts.input).toBe(docs);
          expect(report.counts.kept).toBe(expected.split("\n").filter(Boolean).length);
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);

  it("skips finished tasks, refuses a stage before the previous one is done, and names a changed input", async () => {
    const dir = await tempDir();
    const f = path.join(dir, "a.jsonl");
    await writeFile(f, corpus(7, 40).map(([c]) => c).join("\n"));
    const work = path.join(dir, "work");
    const plan = await planShards([f], work, { shards: 3, bands: 4, rows: 3 });
    expect(plan.tasks).toEqual({ sign: 3, bucket: 4, cluster: 1, filter: 3 });
    await expect(runStage(work, "bucket", 0)).rejects.toMatchObject({ code: "NOT_READY" });
    const first = await runStage(work, "sign", 1);
    expect(first.skipped).toBe(false);
    const again = await runStage(work, "sign", 1);
    expect(again).toMatchObject({ skipped: true, marker: { stage: "sign", task: 1 } });
    await expect(runStage(work, "sign", 3)).rejects.toMatchObject({ code: "BAD_TASK" });
    const planFile = layout.plan(work);
    const saved = await readFile(planFile, "utf8");
    await writeFile(planFile, saved.replace(/"hashScheme": "[^"]*"/, '"hashScheme": "other-v0"'));
    await expect(runStage(work, "sign", 0)).rejects.toMatchObject({ code: "PLAN_MISMATCH" });
    // the scheme is checked against the plan's own sketch
    expect(saved).toContain('"sketch": "oph"');
    await writeFile(planFile, saved.replace('"sketch": "oph"', '"sketch": "minhash"'));
    await expect(runStage(work, "sign", 0)).rejects.toMatchObject({ code: "PLAN_MISMATCH" });
    await writeFile(planFile, saved);
    await writeFile(f, "{}\n", { flag: "a" });
    await expect(runStage(work, "sign", 0)).rejects.toThrow(DedupError);
    await expect(runStage(work, "sign", 0)).rejects.toMatchObject({ code: "INPUT_CHANGED" });
  });

  it("orders band rows by signed (hash_hi, hash_lo), row order kept among equal keys", () => {
    const int = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(int, int), { maxLength: 300 }), (rows) => {
        const hi = Int32Array.from(rows, (r) => r[0]);
        const lo = Int32Array.from(rows, (r) => r[1]);
        const want = rows.map((_, i) => i).sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || a - b);
        expect([...sortedOrder(hi, lo, rows.length)]).toEqual(want);
      }),
    );
  });

  it("refuses gzipped inputs and bad options with typed errors", async () => {
    const dir = await tempDir();
    await expect(planShards([path.join(dir, "x.jsonl.gz")], dir, { shards: 2 })).rejects.toMatchObject({ code: "BAD_INPUT" });
    await expect(planShards([path.join(dir, "missing.jsonl")], dir, { shards: 2 })).rejects.toMatchObject({ code: "BAD_INPUT" });
    const f = path.join(dir, "a.jsonl");
    await writeFile(f, '{"text":"x"}\n');
    await expect(planShards([f], dir, { shards: 0 })).rejects.toMatchObject({ code: "BAD_OPTION", field: "shards" });
    await expect(planShards([f], dir, { shards: 2, threshold: 1.5 })).rejects.toMatchObject({ code: "BAD_OPTION", field: "threshold" });
    await expect(planShards([f], dir, { shards: 2, sketch: "bbit" as Sketch })).rejects.toMatchObject({ code: "BAD_OPTION", field: "sketch" });
  });
});
