import { writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { shardLines } from "./shard-lines.js";

const line = fc.oneof(
  fc.constantFrom("", " ", "\t", "　", '{"text":"胸闷"}', '{"a":1}'),
  fc.string({ unit: fc.constantFrom("a", "病", " ", "{", "}", "😀", "\r"), maxLength: 40 }),
);

describe("shardLines", () => {
  it("yields every non-blank line with its byte offset, whatever the chunk size and cut points", async () => {
    const dir = await tempDir();
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 30 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 64 }), fc.array(fc.nat(), { maxLength: 4 }), async (lines, bom, crlf, chunk, cutSeeds) => {
        const text = (bom ? "\ufeff" : "") + lines.join(crlf ? "\r\n" : "\n");
        const bytes = Buffer.from(text, "utf8");
        const file = path.join(dir, "f.jsonl");
        await writeFile(file, bytes);
        // expected: split by LF, CR before LF dropped, blank lines (white space only) skipped
        const want: Array<{ offset: number; text: string }> = [];
        let at = bom ? 3 : 0;
        const starts = [at];
        for (const l of bytes.subarray(at).toString("utf8").split("\n")) {
          const raw = l.endsWith("\r") ? l.slice(0, -1) : l;
          if (raw.trim() !== "") want.push({ offset: at, text: raw });
          at += Buffer.byteLength(l) + 1;
          starts.push(at);
        }
        // segments cut at line starts (in order), as planShards makes them
        const cuts = [...new Set(cutSeeds.map((s) => Math.min(bytes.length, starts[s % starts.length]!)))].sort((a, b) => a - b);
        const bounds = [0, ...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length];
        const segments = bounds.slice(1).map((end, i) => ({ file: 0, start: bounds[i]!, end }));
        const got: Array<{ offset: number; text: string }> = [];
        for await (const l of shardLines([file], segments, chunk)) got.push({ offset: l.offset, text: Buffer.from(l.bytes).toString("utf8") });
        expect(got).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });
});
