import { existsSync } from "node:fs";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { CheckpointError, JsonlCheckpoint } from "./jsonl-checkpoint.js";

interface Entry {
  id: string;
  out: string;
}
const key = (e: Entry) => e.id;

describe("JsonlCheckpoint", () => {
  test.prop([fc.array(fc.record({ id: fc.string({ minLength: 1, maxLength: 6 }), out: fc.string({ unit: "grapheme", maxLength: 20 }) }), { maxLength: 20 }), fc.nat(60)])(
    "a run cut anywhere inside its last line resumes with every whole line and nothing else",
    async (entries, cut) => {
      const dir = await tempDir();
      const file = path.join(dir, "cp", "run.jsonl");
      const a = await JsonlCheckpoint.open<Entry>(file, { key, header: { seed: 1 } });
      await Promise.all(entries.map((e) => a.append(e)));
      await a.close();
      const whole = await readFile(file);
      const torn = JSON.stringify({ id: "torn", out: "一二三四五六七八九十" });
      const tornBytes = Buffer.from(torn).subarray(0, Math.min(cut, Buffer.byteLength(torn) - 1));
      await appendFile(file, tornBytes);
      const warnings: string[] = [];
      const b = await JsonlCheckpoint.open<Entry>(file, { key, header: { seed: 1 }, onWarning: (w) => warnings.push(w) });
      const want = new Map(entries.map((e) => [e.id, e]));
      expect(b.done).toEqual(want);
      expect(warnings.length).toBe(tornBytes.length > 0 ? 1 : 0);
      if (warnings.length) expect(warnings[0]).toContain(`${file}:${entries.length + 2}`);
      await b.append({ id: "next", out: "x" });
      await b.close();
      // the torn bytes are gone and the new entry sits on its own line
      expect(Buffer.compare(await readFile(file), Buffer.concat([whole, Buffer.from('{"id":"next","out":"x"}\n')]))).toBe(0);
    },
  );

  it("refuses another run's checkpoint, and a broken line before the last", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "run.jsonl");
    const a = await JsonlCheckpoint.open<Entry>(file, { key, header: { model: "a", seed: 1 } });
    await a.append({ id: "1", out: "x" });
    await a.close();
    // key order in the header does not matter
    await (await JsonlCheckpoint.open<Entry>(file, { key, header: { seed: 1, model: "a" } })).close();
    await expect(JsonlCheckpoint.open<Entry>(file, { key, header: { model: "b", seed: 1 } })).rejects.toMatchObject({
      name: "CheckpointError",
      code: "CHECKPOINT_MISMATCH",
      line: 1,
    });
    await writeFile(file, '{"model":"a","seed":1}\n{"id":"1"\n{"id":"2","out":"y"}\n');
    const err = await JsonlCheckpoint.open<Entry>(file, { key, header: { model: "a", seed: 1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).message).toContain(`${file}:2:`);
  });

  it("keeps a complete last line that lost its newline, and later entries replace earlier ones", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "run.jsonl");
    await writeFile(file, '{"id":"a","out":"1"}\n{"id":"a","out":"2"}');
    const cp = await JsonlCheckpoint.open<Entry>(file, { key, fsync: false });
    expect([...cp.done.values()]).toEqual([{ id: "a", out: "2" }]);
    await cp.append({ id: "b", out: "3" });
    await cp.close();
    expect(await readFile(file, "utf8")).toBe('{"id":"a","out":"1"}\n{"id":"a","out":"2"}\n{"id":"b","out":"3"}\n');
  });
});

describe("JsonlCheckpoint.read and maxEntries", () => {
  it("read returns the entries without touching the file; a missing file reads as empty", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "run.jsonl");
    expect((await JsonlCheckpoint.read<Entry>(file, { key })).size).toBe(0);
    expect(existsSync(file)).toBe(false);
    const text = '{"seed":1}\n{"id":"a","out":"1"}\n{"id":"b","out":"2"}\n{"id":"c"';
    await writeFile(file, text);
    const warnings: string[] = [];
    const got = await JsonlCheckpoint.read<Entry>(file, { key, header: { seed: 1 }, onWarning: (w) => warnings.push(w) });
    expect([...got.keys()]).toEqual(["a", "b"]);
    expect(warnings).toHaveLength(1);
    expect(await readFile(file, "utf8")).toBe(text);
    await expect(JsonlCheckpoint.read<Entry>(file, { key, header: { seed: 2 } })).rejects.toMatchObject({ code: "CHECKPOINT_MISMATCH" });
  });

  test.prop([fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.boolean()])(
    "maxEntries keeps the first n entries and cuts the rest (even a broken tail) off the file",
    async (n, extra, tornTail) => {
      const dir = await tempDir();
      const file = path.join(dir, "log.jsonl");
      const lines = Array.from({ length: n + extra }, (_, i) => JSON.stringify({ id: `e${i}`, out: "文" }) + "\n");
      await writeFile(file, lines.join("") + (tornTail ? "{not json\n{" : ""));
      const cp = await JsonlCheckpoint.open<Entry>(file, { key, maxEntries: n, fsync: false });
      expect([...cp.done.keys()]).toEqual(Array.from({ length: n }, (_, i) => `e${i}`));
      await cp.append({ id: "new", out: "x" });
      await cp.close();
      expect(await readFile(file, "utf8")).toBe(lines.slice(0, n).join("") + '{"id":"new","out":"x"}\n');
    },
  );
});
