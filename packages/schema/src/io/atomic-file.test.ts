import { existsSync } from "node:fs";
import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { AtomicFile } from "./atomic-file.js";

describe("AtomicFile", () => {
  test.prop([fc.array(fc.oneof(fc.string({ unit: "grapheme" }), fc.uint8Array({ maxLength: 40 })), { maxLength: 30 }), fc.integer({ min: 1, max: 64 })])(
    "the file holds exactly the pieces written, whatever the buffer size",
    async (pieces, bufferBytes) => {
      const dir = await tempDir();
      const file = path.join(dir, "out", "x.bin");
      const w = new AtomicFile(file, bufferBytes);
      for (const p of pieces) await w.write(p);
      expect(existsSync(file)).toBe(false); // nothing at the destination before commit
      await w.commit();
      const want = Buffer.concat(pieces.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));
      expect(Buffer.compare(await readFile(file), want)).toBe(0);
      expect(await readdir(path.dirname(file))).toEqual(["x.bin"]); // no temp file left
    },
  );

  it("abort leaves an existing file as it was and removes the temp file", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "kept.jsonl");
    await writeFile(file, "old\n");
    const w = new AtomicFile(file, 8);
    await w.write("a much longer new content than the buffer\n");
    await w.abort();
    expect(await readFile(file, "utf8")).toBe("old\n");
    expect(await readdir(dir)).toEqual(["kept.jsonl"]);
  });
});
