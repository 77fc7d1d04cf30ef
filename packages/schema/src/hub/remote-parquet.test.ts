import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fakeHub, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { writeParquet } from "../parquet.js";
import { parquetConversionUri, readHubParquet } from "./remote-parquet.js";

const dialogue = (i: number) => ({ id: `d${i}`, source: "hub", messages: [{ role: "user", content: `问题${i}：发烧三天` }, { role: "assistant", content: `回答${i}：请查血常规。` }] });

async function parquetBytes(records: object[], rowGroupSize: number): Promise<Buffer> {
  const file = path.join(await tempDir(), "x.parquet");
  await writeParquet(file, records as Array<Record<string, unknown>>, { rowGroupSize });
  return readFile(file);
}

describe("readHubParquet: the Hub's refs/convert/parquet read with HTTP ranges", () => {
  it("streams validated rows of every shard by range requests and writes no blob to the cache", async () => {
    const hub = await fakeHub();
    const records = Array.from({ length: 60 }, (_, i) => dialogue(i));
    hub.addRepo({ id: "org/med", files: { "raw/med.jsonl": "{}\n" } });
    const conv = hub.commit("dataset", "org/med", { "default/train/0000.parquet": await parquetBytes(records.slice(0, 40), 10), "default/train/0001.parquet": await parquetBytes(records.slice(40), 10), "default/test/0000.parquet": await parquetBytes(records.slice(0, 1), 10) }, "refs/convert/parquet");
    const cacheDir = await tempDir();
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cacheDir, HF_HOME: cacheDir };
    const got: Array<{ id: string; file: string; line: number }> = [];
    for await (const r of readHubParquet(parquetConversionUri("org/med"), { env, kind: "dialogue" })) got.push({ id: (r.record as { id: string }).id, file: r.file!, line: r.line });
    expect(got.map((g) => g.id)).toEqual(records.map((r) => r.id));
    expect(got[40]).toEqual({ id: "d40", file: `hf://datasets/org/med@${conv}/default/train/0001.parquet`, line: 1 });
    const reads = hub.requests.filter((q) => q.method === "GET" && q.url.startsWith("/lfs-cdn/"));
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((q) => /^bytes=\d+-\d+$/.test(String(q.headers.range)))).toBe(true);
    const storage = path.join(cacheDir, "datasets--org--med");
    expect(await readFile(path.join(storage, "refs", "refs", "convert", "parquet"), "utf8")).toBe(conv);
    expect(await readdir(path.join(storage, "blobs")).catch(() => [])).toEqual([]);

    // Offline, nothing is cached: the error names the ref or the file it lacks.
    await expect(readHubParquet(parquetConversionUri("org/med", "test"), { env: { ...env, HF_HUB_OFFLINE: "1" } }).next()).rejects.toMatchObject({ name: "HubOfflineError" });
    // A row that fails validation names the shard URI and row.
    hub.commit("dataset", "org/med", { "default/bad/0000.parquet": await parquetBytes([dialogue(1), { id: "x", source: "s" }], 10) }, "refs/convert/parquet");
    const rows = readHubParquet(parquetConversionUri("org/med", "bad"), { env, kind: "dialogue" });
    await expect((async () => { for await (const _ of rows); })()).rejects.toThrow(/hf:\/\/datasets\/org\/med@[0-9a-f]{40}\/default\/bad\/0000\.parquet:2/);
  });
});
