import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { dedup, hashSchemeOf } from "@sfmed/dedup";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const lines = async (f: string) => (await readFile(f, "utf8")).split("\n").filter(Boolean);

const Q = "患者男性五十岁，反复胸闷气短三年，活动后加重，夜间不能平卧，双下肢水肿一周";
const R = "孩子发烧三十八度五，咳嗽有痰，精神还可以，需要去医院吗，还是先在家观察";

describe("sfmed dedup", () => {
  it("writes kept records unchanged and in order, plus removed, clusters and a report", async () => {
    const dir = await tempDir();
    const a = path.join(dir, "a.jsonl");
    const b = path.join(dir, "b.jsonl");
    await writeFile(a, [`{"id":"a1", "text":"${Q}。"}`, `{"id":"a2","text":"${R}"}`, `{"id":"a3","text":"${Q}！！"}`, ""].join("\n"));
    await writeFile(b, [`{"id":"b1","messages":[{"role":"user","content":"${R}？"}]}`, `{"id":"b2","text":"完全不同的一段文字内容，和上面都没有关系"}`].join("\n") + "\n");
    const out = path.join(dir, "out", "kept.jsonl");
    const r = await capture(["dedup", a, b, "-o", out, "--removed", path.join(dir, "removed.jsonl"), "--clusters", path.join(dir, "clusters.jsonl"), "--report", path.join(dir, "report.json"), "--threads", "0"]);
    expect(r.stderr).toContain("5 records → 3 kept, 2 removed in 2 clusters");
    expect(r.code).toBe(0);
    expect(await lines(out)).toEqual([`{"id":"a1", "text":"${Q}。"}`, `{"id":"a2","text":"${R}"}`, `{"id":"b2","text":"完全不同的一段文字内容，和上面都没有关系"}`]);
    expect((await lines(path.join(dir, "removed.jsonl"))).map((l) => JSON.parse(l).id)).toEqual(["a3", "b1"]);
    expect((await lines(path.join(dir, "clusters.jsonl"))).map((l) => JSON.parse(l))).toEqual([
      { id: "a1", cluster: 0, kept: true },
      { id: "a2", cluster: 1, kept: true },
      { id: "a3", cluster: 0, kept: false },
      { id: "b1", cluster: 1, kept: false },
    ]);
    const report = JSON.parse(await readFile(path.join(dir, "report.json"), "utf8"));
    expect(report.counts).toMatchObject({ input: 5, kept: 3, removed: 2, clusters: 2 });
    expect(report.params).toMatchObject({ threshold: 0.8, numPerm: 128, ngram: 5, bands: 18, rows: 6, verify: "exact", keep: "first" });
    expect(report.clusterSizes).toEqual({ "2": 2 });
    expect(report.inputs).toEqual([{ file: a, records: 3 }, { file: b, records: 2 }]);
    expect(report.perSource.a).toMatchObject({ input: 3, kept: 2 });
    expect(report.perSource.b).toMatchObject({ input: 2, kept: 1, removedAcrossSources: 1 });
    expect(report.timings.total).toBeGreaterThanOrEqual(0);
  });

  it("dedups per source, keeps the longest, and matches against a saved index", async () => {
    const dir = await tempDir();
    const a = path.join(dir, "a.jsonl");
    await writeFile(a, [`{"id":"1","source":"x","text":"${Q}"}`, `{"id":"2","source":"y","text":"${Q}啊"}`, `{"id":"3","source":"x","text":"${R}"}`].join("\n") + "\n");
    const idx = path.join(dir, "idx");
    const r1 = await capture(["dedup", a, "-o", path.join(dir, "k1.jsonl"), "--per-source", "--keep", "longest", "--index", idx, "--report", path.join(dir, "r1.json"), "--threads", "1"]);
    expect(r1.code).toBe(0);
    expect((await lines(path.join(dir, "k1.jsonl"))).map((l) => JSON.parse(l).id)).toEqual(["2", "3"]);
    const rep = JSON.parse(await readFile(path.join(dir, "r1.json"), "utf8"));
    expect(rep.perSource.x).toMatchObject({ input: 2, removedWithinSource: 0, removedAcrossSources: 1 });
    expect(existsSync(path.join(idx, "manifest.json"))).toBe(true);

    const b = path.join(dir, "b.jsonl");
    await writeFile(b, [`{"id":"n1","text":"${R}。"}`, `{"id":"n2","text":"全新的问题：头痛三天伴有恶心呕吐怎么办"}`].join("\n") + "\n");
    const r2 = await capture(["dedup", b, "-o", path.join(dir, "k2.jsonl"), "--against", idx, "--clusters", path.join(dir, "c2.jsonl"), "--threads", "0"]);
    expect(r2.code).toBe(0);
    expect(r2.stderr).toContain("1 matched the index");
    expect((await lines(path.join(dir, "k2.jsonl"))).map((l) => JSON.parse(l).id)).toEqual(["n2"]);
    expect((await lines(path.join(dir, "c2.jsonl"))).map((l) => JSON.parse(l))).toEqual([{ id: "n1", cluster: 0, kept: false }]);
  });

  it("--sketch minhash gives the k-permutation MinHash's result, records it, and keeps what oph keeps on planted duplicates", async () => {
    const dir = await tempDir();
    // 40 random texts over Q's and R's characters, 40 copies with one or two characters replaced (J ≥ 0.87) and 40
    // with 18 replaced (J ≈ 0.3: candidates or not by chance of the sketch at a loose threshold)
    let x = 7;
    const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % 1000003;
    const chars = Array.from(Q + R);
    const base = Array.from({ length: 40 }, () => Array.from({ length: 120 }, () => chars[rnd() % chars.length]).join(""));
    const edit = (t: string, k: number) => {
      const cs = Array.from(t);
      for (let e = 0; e < k; e++) cs[rnd() % cs.length] = "〇";
      return cs.join("");
    };
    const copies = base.map((t) => edit(t, 1 + (rnd() % 2)));
    const far = base.map((t) => edit(t, 18));
    const recs = [...base, ...copies, ...far].map((text, i) => ({ id: `r${i}`, text }));
    const input = path.join(dir, "in.jsonl");
    await writeFile(input, recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const run = async (tag: string, ...flags: string[]) => {
      const r = await capture(["dedup", input, "-o", path.join(dir, `${tag}.jsonl`), "--report", path.join(dir, `${tag}.json`), "--threads", "1", ...flags]);
      expect(r.code).toBe(0);
      return { kept: (await lines(path.join(dir, `${tag}.jsonl`))).map((l) => JSON.parse(l).id as string), params: JSON.parse(await readFile(path.join(dir, `${tag}.json`), "utf8")).params };
    };
    // unverified and loosely banded, the kept set is the sketch's own band collisions
    const loose: string[][] = [];
    for (const sketch of ["oph", "minhash"] as const) {
      const cli = await run(`loose-${sketch}`, "--sketch", sketch, "--verify", "none", "--threshold", "0.3");
      const lib = await dedup(recs, { sketch, verify: "none", threshold: 0.3, threads: 0 });
      expect(cli.kept).toEqual(recs.filter((_, i) => lib.keep[i]).map((r) => r.id));
      expect(cli.params).toMatchObject({ sketch, hashScheme: hashSchemeOf(sketch) });
      loose.push(cli.kept);
    }
    expect(loose[1]).not.toEqual(loose[0]); // the flag reaches the sketch
    const oph = await run("oph");
    const mh = await run("mh", "--sketch", "minhash", "--index", path.join(dir, "idx"));
    expect(oph.params.sketch).toBe("oph");
    expect(mh.kept).toEqual(oph.kept);
    expect(oph.kept).toEqual(recs.filter((_, i) => i < 40 || i >= 80).map((r) => r.id));
    // an index of one sketch is refused by a run of the other, naming both schemes
    const refused = await capture(["dedup", input, "-o", path.join(dir, "x.jsonl"), "--against", path.join(dir, "idx"), "--threads", "0"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(hashSchemeOf("minhash"));
    expect(refused.stderr).toContain(hashSchemeOf("oph"));
    expect((await capture(["dedup", input, "-o", path.join(dir, "x.jsonl"), "--sketch", "bbit"])).code).toBe(2);
  }, 60_000);

  it("reads CSV input and writes its records as JSON lines", async () => {
    const dir = await tempDir();
    const csv = path.join(dir, "qa.csv");
    await writeFile(csv, `id,question\nq1,"${Q}"\nq2,"${Q}。"\nq3,"${R}"\n`);
    const out = path.join(dir, "k.jsonl");
    const r = await capture(["dedup", csv, "-o", out, "--field", "question", "--threads", "0"]);
    expect(r.code).toBe(0);
    expect((await lines(out)).map((l) => JSON.parse(l))).toEqual([
      { id: "q1", question: Q },
      { id: "q3", question: R },
    ]);
  });

  it("rejects bad flags with exit code 2 and names file, line and field for bad records", async () => {
    const dir = await tempDir();
    const a = path.join(dir, "a.jsonl");
    await writeFile(a, `{"id":"1","text":"好"}\n{"id":"2","body":"x"}\n`);
    const out = path.join(dir, "k.jsonl");
    expect((await capture(["dedup", a, "-o", out, "--verify", "maybe"])).code).toBe(2);
    expect((await capture(["dedup", a, "-o", out, "--num-perm", "1.5"])).code).toBe(2);
    const bad = await capture(["dedup", a, "-o", out, "--threads", "0"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${a}:2 field messages`);
    expect(existsSync(out)).toBe(false);
    const mismatch = await capture(["dedup", a, "-o", out, "--field", "text", "--against", path.join(dir, "none"), "--threads", "0"]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/DedupError: .*not a dedup index/);
  });

  it("gives the same outputs for UTF-8 JSONL (read by the workers) as for a JSON array and GB18030 JSONL (read here)", async () => {
    const dir = await tempDir();
    const recs = [Q, `${Q}。`, R, `${R}！`, "完全不同的一段文字内容，和上面都没有关系", Q].map((text, i) => ({ id: `r${i}`, text }));
    const jsonl = path.join(dir, "in.jsonl");
    const arr = path.join(dir, "in.json");
    await writeFile(jsonl, recs.map((r) => JSON.stringify(r)).join("\r\n") + "\r\n");
    await writeFile(arr, JSON.stringify(recs));
    const run = async (input: string, tag: string, threads: string) => {
      const out = (f: string) => path.join(dir, `${tag}-${f}`);
      const r = await capture(["dedup", input, "-o", out("k.jsonl"), "--removed", out("r.jsonl"), "--clusters", out("c.jsonl"), "--report", out("rep.json"), "--threads", threads]);
      expect(r.code).toBe(0);
      const rep = JSON.parse(await readFile(out("rep.json"), "utf8"));
      return {
        kept: (await lines(out("k.jsonl"))).map((l) => JSON.parse(l)),
        removed: (await lines(out("r.jsonl"))).map((l) => JSON.parse(l)),
        clusters: await lines(out("c.jsonl")),
        counts: rep.counts,
        records: rep.inputs[0].records,
      };
    };
    const fast = await run(jsonl, "fast", "1");
    expect(fast.kept.map((r) => r.id)).toEqual(["r0", "r2", "r4"]);
    expect(await readFile(path.join(dir, "fast-k.jsonl"), "utf8")).toBe([0, 2, 4].map((i) => JSON.stringify(recs[i]) + "\n").join(""));
    expect(await run(arr, "array", "0")).toEqual(fast);
    const gb = path.join(dir, "gb.jsonl");
    await writeFile(gb, new Uint8Array(gb18030(recs.map((r) => JSON.stringify(r)).join("\n"))));
    expect(await run(gb, "gb", "0")).toEqual(fast);
  });

  it("reads a GB18030 file whose first MiBs are ASCII again with encoding detection", async () => {
    const dir = await tempDir();
    // > 4 MiB of ASCII lines, then Chinese records in GB18030: the UTF-8 check passes on the
    // prefix, the workers meet the GB18030 bytes, and the command falls back instead of failing.
    const ascii = Array.from({ length: 45_000 }, (_, i) => JSON.stringify({ id: `a${i}`, text: `record ${i} ${"abcdefghij".repeat(8)} ${i * 7919}` }));
    const chinese = [Q, `${Q}。`, R].map((text, i) => JSON.stringify({ id: `c${i}`, text }));
    const file = path.join(dir, "mixed.jsonl");
    await writeFile(file, Buffer.concat([Buffer.from(ascii.join("\n") + "\n"), Buffer.from(gb18030(chinese.join("\n") + "\n"))]));
    const out = path.join(dir, "kept.jsonl");
    const r = await capture(["dedup", file, "-o", out, "--threads", "1"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/invalid UTF-8.*reading the inputs again with encoding detection/);
    const kept = (await lines(out)).map((l) => JSON.parse(l).id);
    expect(kept.slice(-2)).toEqual(["c0", "c2"]); // decoded: c1 is Q plus a full stop, a near-duplicate of c0
    expect(kept.length).toBeGreaterThan(ascii.length / 2);
  }, 60_000);
});

/** GB18030 bytes of a text (Node can decode but not encode it): map each character through a decode table. */
function gb18030(text: string): number[] {
  const dec = new TextDecoder("gb18030");
  const table = new Map<string, number[]>();
  for (let a = 0x81; a <= 0xfe; a++) for (let b = 0x40; b <= 0xfe; b++) if (b !== 0x7f) table.set(dec.decode(new Uint8Array([a, b])), [a, b]);
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else out.push(...table.get(ch)!);
  }
  return out;
}
