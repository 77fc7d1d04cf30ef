import { spawnSync } from "node:child_process";
import { repoRoot } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { corpus } from "../test/texts.js";
import type { BatchParams } from "./signature-batch.js";
import { createSignaturePool, createSignatureWorkers, sharedSignatureWorkers } from "./signature-pool.js";

const params = (over: Partial<BatchParams> = {}): BatchParams => ({ numPerm: 128, seed: 1, ngram: 5, bands: 18, rows: 6, keepShingles: true, keepSignatures: true, ...over });
const texts = corpus(3, 300, { dupShare: 0.3 });
const plain = (r: { bandKeys: Int32Array; sizes: Int32Array; shingles?: Int32Array; signatures?: Int32Array }) => ({
  bandKeys: Array.from(r.bandKeys),
  sizes: Array.from(r.sizes),
  shingles: Array.from(r.shingles ?? []),
  signatures: Array.from(r.signatures ?? []),
});

describe("signature workers", () => {
  it("are started once and reused by pools of any parameters, with the calling thread's bytes", async () => {
    const a = createSignaturePool(params(), 2);
    const first = await Promise.all([a.compute(texts.slice(0, 150)), a.compute(texts.slice(150))]);
    await a.close();
    const workers = sharedSignatureWorkers(2);
    expect(workers.closed).toBe(false);
    // another run, other parameters, other sketch: the same threads
    const b = createSignaturePool(params({ seed: 9, numPerm: 64, bands: 8, rows: 8, sketch: "minhash" }), 2);
    const second = await b.compute(texts);
    expect(sharedSignatureWorkers(2)).toBe(workers);
    expect(workers.threads).toBe(2);
    const local = createSignaturePool(params(), 0);
    expect(first.map(plain)).toEqual([await local.compute(texts.slice(0, 150)), await local.compute(texts.slice(150))].map(plain));
    expect(plain(second)).toEqual(plain(await createSignaturePool(params({ seed: 9, numPerm: 64, bands: 8, rows: 8, sketch: "minhash" }), 0).compute(texts)));
  }, 60_000);

  it("close with their AbortSignal, rejecting later batches", async () => {
    const ac = new AbortController();
    const workers = createSignatureWorkers({ threads: 1, signal: ac.signal });
    const pool = workers.bind(params());
    expect((await pool.compute(texts.slice(0, 10))).count).toBe(10);
    ac.abort();
    await expect.poll(() => workers.closed).toBe(true);
    await expect(pool.compute(texts.slice(0, 10))).rejects.toMatchObject({ name: "DedupError", code: "WORKER_FAILED" });
  }, 60_000);

  it("never keep the process alive while idle (the shared pool is not closed by its users)", () => {
    const code = `
      import { createSignaturePool } from "./packages/dedup/src/signature-pool.ts";
      const pool = createSignaturePool({ numPerm: 128, seed: 1, ngram: 5, bands: 18, rows: 6, keepShingles: false, keepSignatures: false }, 2);
      const r = await pool.compute(["患者主诉头痛三天，伴有发热和咳嗽", "头痛发热三天"]);
      process.stdout.write(String(r.count));
    `;
    const r = spawnSync(process.execPath, ["--conditions=@sfmed/source", "--import", "tsx", "--input-type=module", "-e", code], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("2");
  }, 90_000);
});
