import { mkdir, readFile, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { corpus } from "../test/texts.js";
import { dedup, type DedupResult } from "./dedup.js";
import { dedupJsonl, sourceOfFile, splitJsonl } from "./dedup-jsonl.js";
import { DedupError } from "./errors.js";
import { isUtf8Text, lineChunks } from "./jsonl-chunks.js";
import { textOf } from "./text-view.js";

interface Row {
  file: string;
  line: number;
  raw: string;
  record: Record<string, unknown>;
}

/** Lines of a JSONL file the way the generic readers see them (LF or CRLF, BOM dropped). */
function rowsOf(file: string, content: string): Row[] {
  const text = content.replace(/^\uFEFF/, "");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const out: Row[] = [];
  lines.forEach((l, i) => {
    const raw = l.endsWith("\r") ? l.slice(0, -1) : l;
    if (raw.trim() === "") return;
    out.push({ file, line: i + 1, raw, record: JSON.parse(raw) as Record<string, unknown> });
  });
  return out;
}

const same = (a: DedupResult, b: DedupResult) => {
  expect(Array.from(b.keep)).toEqual(Array.from(a.keep));
  expect(Array.from(b.cluster)).toEqual(Array.from(a.cluster));
  expect(b.report.counts).toEqual(a.report.counts);
  expect(b.report.perSource).toEqual(a.report.perSource);
  expect(b.report.clusterSizes).toEqual(a.report.clusterSizes);
};

/** A JSONL line for text `t`, in one of a few shapes (text, messages, extra fields, numeric id, no id). */
function lineFor(t: string, i: number, shape: number, sources: string[]): string {
  const src = shape % 3 === 0 ? {} : { source: sources[i % sources.length] };
  switch (shape % 4) {
    case 0:
      return JSON.stringify({ id: `r${i}`, ...src, text: t });
    case 1:
      return JSON.stringify({ ...src, messages: [{ role: "user", content: t.slice(0, 40) }, { role: "assistant", content: t.slice(40) }], id: i });
    case 2:
      return JSON.stringify({ text: t, ...src, meta: { n: i, tags: ["a", "b"] } });
    default:
      return ` ${JSON.stringify({ id: `r${i}`, text: t, ...src })}\t`;
  }
}

describe("dedupJsonl", () => {
  test.prop({ seed: fc.integer({ min: 0, max: 1 << 20 }), files: fc.integer({ min: 1, max: 3 }), crlf: fc.boolean(), bom: fc.boolean(), blanks: fc.boolean(), chunk: fc.constantFrom(64, 300, 1 << 20), perSource: fc.boolean(), keep: fc.constantFrom("first" as const, "longest" as const) }, { numRuns: 12 })(
    "gives the same result as dedup over the parsed records, and writes the kept lines byte for byte",
    async ({ seed, files, crlf, bom, blanks, chunk, perSource, keep }) => {
      const dir = await tempDir();
      const texts = corpus(seed, 90, { dupShare: 0.5 });
      const names: string[] = [];
      const rows: Row[] = [];
      const per = Math.ceil(texts.length / files);
      for (let f = 0; f < files; f++) {
        const file = path.join(dir, `part-${f}.jsonl`);
        const lines: string[] = [];
        for (let i = f * per; i < Math.min(texts.length, (f + 1) * per); i++) {
          lines.push(lineFor(texts[i]!, i, seed + i, ["x", "y"]));
          if (blanks && i % 7 === 0) lines.push(i % 2 ? "" : "  \u3000 ");
        }
        const content = (bom && f === 0 ? "\uFEFF" : "") + lines.join(crlf ? "\r\n" : "\n") + (f % 2 ? "" : "\n");
        await writeFile(file, content);
        names.push(file);
        rows.push(...rowsOf(file, content));
      }
      const opts = { threads: 0, perSource, keep };
      const a = await dedup(rows, {
        ...opts,
        text: (r) => textOf(r.record, { file: r.file, line: r.line }),
        source: (r) => (typeof r.record.source === "string" ? r.record.source : sourceOfFile(r.file)),
      });
      const b = await dedupJsonl(names, { ...opts, chunkBytes: chunk });
      same(a, b);
      expect(b.inputs.map((x) => x.records)).toEqual(names.map((n) => rows.filter((r) => r.file === n).length));

      const kept = path.join(dir, "kept.jsonl");
      const removed = path.join(dir, "removed.jsonl");
      const clustered: number[] = [];
      const counts = await splitJsonl(names, b, { kept, removed, onClustered: (i, text) => {
          clustered.push(i);
          expect(text).toBe(rows[i]!.raw);
        },
      });
      expect(counts).toEqual(b.inputs);
      const want = (k: number) => rows.filter((_, i) => b.keep[i] === k).map((r) => r.raw + "\n").join("");
      expect(await readFile(kept, "utf8")).toBe(want(1));
      expect(await readFile(removed, "utf8")).toBe(want(0));
      expect(clustered).toEqual(rows.map((_, i) => i).filter((i) => b.cluster[i]! >= 0));
    },
  );

  it("reads on worker threads and from gzip with the same result as on the calling thread", async () => {
    const dir = await tempDir();
    const texts = corpus(7, 400, { dupShare: 0.4 });
    const content = texts.map((t, i) => JSON.stringify({ id: i, text: t })).join("\n") + "\n";
    const file = path.join(dir, "a.jsonl");
    await mkdir(path.join(dir, "gz"));
    const gz = path.join(dir, "gz", "a.jsonl.gz"); // same source name as a.jsonl
    await writeFile(file, content);
    await writeFile(gz, gzipSync(content));
    const a = await dedupJsonl([file], { threads: 0 });
    const b = await dedupJsonl([file], { threads: 2, chunkBytes: 4096 });
    const c = await dedupJsonl([gz], { threads: 1, chunkBytes: 10_000, saveIndex: path.join(dir, "idx") });
    same(a, b);
    same(a, c);
    expect(a.report.counts.removed).toBeGreaterThan(0);
    // the index holds ids (numbers become strings): a second run against it removes everything
    const again = await dedupJsonl([file], { threads: 0, against: path.join(dir, "idx") });
    expect(again.report.counts.kept).toBe(0);
  });

  it("names file, line and field for bad lines, whichever chunk they fall in", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "bad.jsonl");
    const good = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i, text: `第${i}条记录的文本内容` }));
    const cases: Array<[string, RegExp, string, string | undefined]> = [
      ['{"id":1,', /invalid JSON/, "PARSE_ERROR", undefined],
      ["[1,2]", /must be a JSON object/, "PARSE_ERROR", undefined],
      ['{"id":1,"body":"x"}', /field is missing/, "NO_TEXT", "messages"],
      ['{"id":1,"text":5}', /neither a string/, "NO_TEXT", "text"],
    ];
    for (const [bad, msg, code, field] of cases) {
      await writeFile(file, [...good.slice(0, 30), "", ...good.slice(30), bad, ...good.slice(0, 5)].join("\n"));
      for (const threads of [0, 1]) {
        const err = await dedupJsonl([file], { threads, chunkBytes: 256, field: field === "text" ? "text" : undefined }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DedupError);
        const e = err as DedupError;
        expect([e.code, e.file, e.line, e.field]).toEqual([code, file, 52, field]);
        expect(e.message).toMatch(msg);
        expect(e.message).toContain(`${file}:52`);
      }
    }
    await writeFile(file, Buffer.concat([Buffer.from(good.slice(0, 3).join("\n") + "\n"), Buffer.from([0x7b, 0xff, 0x7d, 0x0a])]));
    const err = (await dedupJsonl([file], { threads: 0 }).catch((e: unknown) => e)) as DedupError;
    expect([err.code, err.line]).toEqual(["INVALID_UTF8", 4]);
  });

  it("refuses to split files that changed since the dedup", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "a.jsonl");
    await writeFile(file, '{"text":"一二三四五六"}\n{"text":"七八九十"}\n');
    const r = await dedupJsonl([file], { threads: 0 });
    await writeFile(file, '{"text":"一二三四五六"}\n');
    const out = path.join(dir, "k.jsonl");
    await expect(splitJsonl([file], r, { kept: out })).rejects.toMatchObject({ code: "INPUT_CHANGED" });
    await expect(readFile(out)).rejects.toThrow();
  });
});

describe("lineChunks", () => {
  test.prop({ lines: fc.array(fc.string({ maxLength: 40 }).map((s) => s.replace(/\n/g, "")), { maxLength: 60 }), size: fc.integer({ min: 1, max: 100 }) })(
    "cuts only after line breaks and loses no byte",
    async ({ lines, size }) => {
      const dir = await tempDir();
      const file = path.join(dir, "x.jsonl");
      const content = lines.join("\n");
      await writeFile(file, content);
      const parts: Buffer[] = [];
      for await (const c of lineChunks(file, size)) {
        expect(c.byteOffset).toBe(0);
        expect(c.buffer.byteLength).toBe(c.length);
        parts.push(Buffer.from(c));
      }
      parts.slice(0, -1).forEach((p) => expect(p[p.length - 1]).toBe(10));
      expect(Buffer.concat(parts).toString("utf8")).toBe(content);
    },
  );

  it("tells UTF-8 from GB18030 text", async () => {
    const dir = await tempDir();
    const u = path.join(dir, "u.jsonl");
    const g = path.join(dir, "g.jsonl");
    await writeFile(u, '{"text":"头痛三天"}\n');
    await writeFile(g, Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xbb, 0xbc, 0xd5, 0xdf, 0x22, 0x7d, 0x0a])); // {"t":"患者"} in GB18030
    expect(await isUtf8Text(u)).toBe(true);
    expect(await isUtf8Text(g)).toBe(false);
  });
});
