import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { ResponseCache, cacheKey, stableStringify } from "./response-cache.js";

describe("response cache", () => {
  test.prop([fc.dictionary(fc.string(), fc.jsonValue())])("keys ignore object key order", (o) => {
    const reversed = Object.fromEntries(Object.entries(o).reverse());
    expect(cacheKey("/x", reversed)).toBe(cacheKey("/x", o));
    expect(stableStringify(reversed)).toBe(stableStringify(o));
  });

  it("keys differ by endpoint, body and salt", () => {
    const k = cacheKey("/chat/completions", { model: "m", temperature: 0 });
    expect(cacheKey("/completions", { model: "m", temperature: 0 })).not.toBe(k);
    expect(cacheKey("/chat/completions", { model: "m", temperature: 0.1 })).not.toBe(k);
    expect(cacheKey("/chat/completions", { model: "m", temperature: 0 }, "server-b")).not.toBe(k);
  });

  it("round-trips entries, treats torn or foreign files as misses, and tolerates parallel writers", async () => {
    const c = new ResponseCache(await tempDir());
    const k = cacheKey("/x", { a: 1 });
    expect(await c.get(k)).toBeUndefined();
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.set(k, "/x", { i, big: "药".repeat(5000) })));
    const got = await c.get(k);
    expect((got!.response as { big: string }).big).toHaveLength(5000);
    const { writeFile } = await import("node:fs/promises");
    const path = await import("node:path");
    await writeFile(path.join(c.dir, k.slice(0, 2), `${k}.json`), '{"key": "' + k);
    expect(await c.get(k)).toBeUndefined();
  });
});
