import { readFileSync } from "node:fs";
import { fc, test } from "@fast-check/vitest";
import { samplePath } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { decodeText, detectEncoding, SNIFF_BYTES } from "./encoding.js";
import { splitLines } from "./lines.js";

/** Cut bytes into chunks at the given (sorted, deduplicated) offsets. */
function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}
async function* from<T>(xs: T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}
async function collect(it: AsyncIterable<string>): Promise<string> {
  let s = "";
  for await (const c of it) s += c;
  return s;
}

// GB18030 sample lines (trail bytes are never 0x0A, so splitting the bytes at LF keeps characters whole).
const gbBytes = readFileSync(samplePath("toyhom/内科.txt"));
const gbLines: Buffer[] = [];
for (let s = 0, i = gbBytes.indexOf(10); i !== -1; s = i + 1, i = gbBytes.indexOf(10, s)) gbLines.push(gbBytes.subarray(s, i + 1));

describe("encoding detection and streaming decode", () => {
  test.prop([fc.string({ unit: "grapheme", maxLength: 300 }), fc.array(fc.nat(), { maxLength: 20 }), fc.boolean()])(
    "UTF-8 (with or without BOM) decodes to the original text, whatever the chunk boundaries",
    async (s, cuts, bom) => {
      const body = Buffer.from(s, "utf8");
      const bytes = bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]) : body;
      let seen = "";
      const text = await collect(decodeText(from(chunked(bytes, cuts)), { onEncoding: (e) => (seen = e.encoding) }));
      expect(text).toBe(s);
      expect(seen).toBe("utf-8");
    },
  );

  test.prop([fc.array(fc.nat({ max: gbLines.length - 1 }), { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 20 }), fc.nat({ max: 2 * SNIFF_BYTES })])(
    "GB18030 lines, after an ASCII head of any length, are detected and decoded across arbitrary chunk boundaries",
    async (picks, cuts, head) => {
      const bytes = Buffer.concat([Buffer.alloc(head, 0x61), ...picks.map((i) => gbLines[i]!)]);
      const expected = new TextDecoder("gb18030").decode(bytes);
      let seen = "";
      const text = await collect(decodeText(from(chunked(bytes, cuts)), { onEncoding: (e) => (seen = e.encoding) }));
      expect(text).toBe(expected);
      // Pure-ASCII picks are valid UTF-8 as well; any Chinese character makes the prefix GB18030.
      expect(seen).toBe(bytes.every((b) => b < 0x80) ? "utf-8" : "gb18030");
    },
  );

  it("decides on a prefix cut inside a multi-byte character", () => {
    const bytes = Buffer.from("a".repeat(SNIFF_BYTES - 1) + "中文", "utf8");
    expect(detectEncoding(bytes.subarray(0, SNIFF_BYTES))).toEqual({ encoding: "utf-8", bom: false });
    expect(detectEncoding(Buffer.from([0xef, 0xbb, 0xbf, 0x41]))).toEqual({ encoding: "utf-8", bom: true });
    expect(detectEncoding(gbBytes.subarray(0, 100))).toEqual({ encoding: "gb18030", bom: false });
  });

  it("reports invalid UTF-8 after the sniffed prefix with the file, line and byte", async () => {
    const good = Buffer.from("中".repeat(SNIFF_BYTES) + "\n", "utf8");
    const bad = Buffer.from([0x41, 0xff, 0xfe, 0x41]);
    const want = `f.jsonl: invalid UTF-8 at line 2, byte ${good.length + 1}`;
    await expect(collect(decodeText(from([good, bad]), { file: "f.jsonl" }))).rejects.toThrow(want);
    await expect(collect(decodeText(from([good, bad]), { file: "f.jsonl", encoding: "utf-8" }))).rejects.toMatchObject({ name: "ParseError", line: 2, byte: good.length + 1 });
    await expect(collect(decodeText(from([Buffer.from("ab\n中", "utf8").subarray(0, 5)]), { file: "t.jsonl" }))).rejects.toThrow(
      "t.jsonl: invalid UTF-8 at line 2, byte 5: the file ends inside a character",
    );
  });

  test.prop([
    fc.array(fc.string({ unit: "grapheme", maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, "")), { minLength: 1, maxLength: 30 }),
    fc.nat(),
    fc.array(fc.nat(), { maxLength: 12 }),
    fc.constantFrom(0xff, 0xc0, 0x80),
  ])("an invalid byte anywhere is reported at its exact line and byte, whatever the chunking (never replaced)", async (lines, at, cuts, badByte) => {
    const encoding = "utf-8"; // the "auto" case is the example above (detection first sniffs a window)
    const pre = "中";
    const chars = [...pre, ...lines.join("\n")];
    const k = pre.length + (at % (chars.length - pre.length + 1));
    const head = Buffer.from(chars.slice(0, k).join(""), "utf8");
    const bytes = Buffer.concat([head, Buffer.from([badByte]), Buffer.from(chars.slice(k).join(""), "utf8")]);
    const err = await collect(decodeText(from(chunked(bytes, cuts)), { file: "x.jsonl", encoding })).then(
      () => undefined,
      (e: unknown) => e,
    );
    const line = head.toString("utf8").split("\n").length;
    expect(err).toMatchObject({ name: "ParseError", file: "x.jsonl", line, byte: head.length });
    expect((err as Error).message).toBe(`x.jsonl: invalid UTF-8 at line ${line}, byte ${head.length}`);
  });

  it("sniffs from the first non-ASCII byte, so a long ASCII head does not hide GB18030 text", async () => {
    const ascii = Buffer.from("id,text\n" + "1,abc\n".repeat(SNIFF_BYTES / 4), "latin1");
    const gb = gbLines.slice(0, 5);
    const bytes = Buffer.concat([ascii, ...gb]);
    const seen: string[] = [];
    const text = await collect(decodeText(from(chunked(bytes, [SNIFF_BYTES, SNIFF_BYTES + 7, ascii.length + 1])), { onEncoding: (e) => seen.push(e.encoding) }));
    expect(text).toBe(new TextDecoder("gb18030").decode(bytes));
    expect(seen).toEqual(["gb18030"]);
  });

  test.prop([fc.array(fc.string({ maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, "")), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), fc.boolean()])(
    "splitLines numbers LF and CRLF lines across chunk boundaries",
    async (lines, cuts, crlf) => {
      const text = lines.map((l) => l + (crlf ? "\r\n" : "\n")).join("");
      const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      const parts: string[] = [];
      let prev = 0;
      for (const c of at) {
        parts.push(text.slice(prev, c));
        prev = c;
      }
      parts.push(text.slice(prev));
      const got: Array<{ line: number; text: string }> = [];
      for await (const l of splitLines(from(parts))) got.push(l);
      expect(got).toEqual(lines.map((t, i) => ({ line: i + 1, text: t })));
    },
  );
});
