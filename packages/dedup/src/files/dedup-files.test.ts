import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { fc, test } from "@fast-check/vitest";
import { writeParquet } from "@sfmed/schema/parquet";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { corpus } from "../../test/texts.js";
import type { DedupProgress } from "../dedup-options.js";
import { DedupError } from "../errors.js";
import { dedupFiles, type DedupFilesOptions } from "./dedup-files.js";

const lines = async (f: string) => (await readFile(f, "utf8")).split("\n").filter(Boolean);

/** GB18030 bytes of a text (Node decodes but does not encode it): each character through a decode table. */
function gb18030(text: string): Uint8Array {
  const dec = new TextDecoder("gb18030");
  const table = new Map<string, number[]>();
  for (let a = 0x81; a <= 0xfe; a++) for (let b = 0x40; b <= 0xfe; b++) if (b !== 0x7f) table.set(dec.decode(new Uint8Array([a, b])), [a, b]);
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else out.push(...table.get(ch)!);
  }
  return Uint8Array.from(out);
}

async function run(dir: string, input: string, tag: string, extra: Partial<DedupFilesOptions> = {}) {
  const out = (f: string) => path.join(dir, `${tag}-${f}`);
  const r = await dedupFiles([input], { output: out("k.jsonl"), removed: out("r.jsonl"), clusters: out("c.jsonl"), report: out("rep.json"), threads: 0, ...extra });
  const report = JSON.parse(await readFile(out("rep.json"), "utf8"));
  expect(Object.keys(report)[0]).toBe("inputs");
  expect(report.counts).toEqual(r.report.counts);
  return {
    reader: r.reader,
    kept: (await lines(out("k.jsonl"))).map((l) => JSON.parse(l)),
    removed: (await lines(out("r.jsonl"))).map((l) => JSON.parse(l)),
    clusters: await lines(out("c.jsonl")),
    counts: report.counts,
    records: r.inputs.map((i) => i.records),
  };
}

describe("dedupFiles", () => {
  test.prop([fc.integer({ min: 0, max: 1 << 20 })], { numRuns: 4 })(
    "gives the same outputs for JSONL (read by the workers), gzip, a JSON array, CSV, Parquet and GB18030 JSONL (parsed)",
    async (seed) => {
      const dir = await tempDir();
      const recs = corpus(seed, 40, { dupShare: 0.5, maxRate: 0.1 }).map((text, i) => ({ id: `r${i}`, source: i % 3 ? "a" : "b", text }));
      const jsonl = recs.map((r) => JSON.stringify(r)).join("\n") + "\n";
      const files = {
        jsonl: path.join(dir, "in.jsonl"),
        gz: path.join(dir, "in.jsonl.gz"),
        json: path.join(dir, "in.json"),
        csv: path.join(dir, "in.csv"),
        parquet: path.join(dir, "in.parquet"),
        gb: path.join(dir, "gb.jsonl"),
      };
      await writeFile(files.jsonl, jsonl);
      await writeFile(files.gz, gzipSync(jsonl));
      await writeFile(files.json, JSON.stringify(recs));
      await writeFile(files.csv, "id,source,text\n" + recs.map((r) => `${r.id},${r.source},${r.text}`).join("\n") + "\n");
      await writeParquet(files.parquet, recs);
      await writeFile(files.gb, gb18030(jsonl));
      const want = await run(dir, files.jsonl, "jsonl", { perSource: true });
      expect(want.reader).toBe("workers");
      expect(await readFile(path.join(dir, "jsonl-k.jsonl"), "utf8")).toBe(want.kept.map((r) => JSON.stringify(r) + "\n").join(""));
      expect(want.kept.length + want.removed.length).toBe(40);
      for (const [tag, file] of Object.entries(files)) {
        if (tag === "jsonl") continue;
        const got = await run(dir, file, tag, { perSource: true });
        expect(got.reader).toBe(tag === "gz" ? "workers" : "parsed");
        expect({ ...got, reader: want.reader }).toEqual(want);
      }
    },
    120_000,
  );

  it("reports progress through the write pass", async () => {
    const dir = await tempDir();
    const json = path.join(dir, "in.json");
    await writeFile(json, JSON.stringify(corpus(3, 30).map((text, i) => ({ id: i, text }))));
    const seen: DedupProgress[] = [];
    await dedupFiles([json], { output: path.join(dir, "k.jsonl"), threads: 0, onProgress: (p) => seen.push(p) });
    expect(seen.map((p) => p.phase).filter((p, i, a) => a.indexOf(p) === i)).toEqual(["signatures", "global", "clusters", "write"]);
    expect(seen.at(-1)).toEqual({ phase: "write", done: 30, total: 30 });
  });

  it("stops on an aborted signal with ABORTED, leaving no output and no temp files", async () => {
    const dir = await tempDir();
    const work = await tempDir();
    const input = path.join(dir, "in.jsonl");
    await writeFile(input, corpus(4, 50).map((text) => JSON.stringify({ text })).join("\n"));
    const controller = new AbortController();
    const output = path.join(dir, "out", "k.jsonl");
    const err = await dedupFiles([input], {
      output,
      threads: 0,
      workDir: work,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === "global") controller.abort(new Error("user stop"));
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DedupError);
    expect(err).toMatchObject({ code: "ABORTED", cause: new Error("user stop") });
    expect(existsSync(output)).toBe(false);
    expect(await readdir(work)).toEqual([]);
    const early = await dedupFiles([input], { output, signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(early).toMatchObject({ code: "ABORTED" });
  });

  it("throws typed errors naming file, line and field, and writes nothing", async () => {
    const dir = await tempDir();
    const csv = path.join(dir, "in.csv");
    await writeFile(csv, "id,question\n1,头痛三天怎么办\n2,\n");
    const output = path.join(dir, "k.jsonl");
    const noText = (await dedupFiles([csv], { output, threads: 0, field: "body" }).catch((e: unknown) => e)) as DedupError;
    expect([noText.code, noText.file, noText.line, noText.field]).toEqual(["NO_TEXT", csv, 2, "body"]);
    const jsonl = path.join(dir, "in.jsonl");
    await writeFile(jsonl, '{"text":"头痛三天怎么办"}\n{"text":\n');
    const bad = (await dedupFiles([jsonl], { output, threads: 1 }).catch((e: unknown) => e)) as DedupError;
    expect([bad.code, bad.file, bad.line]).toEqual(["PARSE_ERROR", jsonl, 2]);
    const missing = (await dedupFiles([csv], { output, threads: 0, field: "question", against: path.join(dir, "none") }).catch((e: unknown) => e)) as DedupError;
    expect(missing.code).toBe("INDEX_MISSING");
    expect(await readdir(dir)).toEqual(["in.csv", "in.jsonl"]);
  });
});
