// The usual way to try a library from a shell is an ESM one-liner (`node --input-type=module -e …`). Worker
// threads used to inherit those flags and die ("require is not defined", "signature worker crashed").
import { spawnSync } from "node:child_process";
import { repoRoot } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";

const oneLiner = (code: string, flags: string[] = []) =>
  spawnSync(process.execPath, [...flags, "--conditions=@sfmed/source", "--import", "tsx", "--input-type=module", "-e", code], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 120_000,
  });

describe("worker pools under node --input-type=module -e", () => {
  it("rougeLBatch on 2 threads", () => {
    const r = oneLiner(`
      import { rougeLBatch, rougeLMany } from "@sfmed/eval-metrics";
      const pairs = Array.from({ length: 3000 }, (_, i) => ({ candidate: "头痛发热" + i, reference: "头痛发烧" + (i % 7) }));
      const a = await rougeLBatch(pairs, { threads: 2, chunkSize: 500 });
      const b = rougeLMany(pairs);
      process.stdout.write(JSON.stringify({ n: a.length, same: a.every((s, i) => s.f === b[i].f) }));
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ n: 3000, same: true });
  }, 150_000);

  it("dedup's signature workers on 2 threads", () => {
    const r = oneLiner(`
      import { dedup } from "@sfmed/dedup";
      async function* docs() {
        for (let i = 0; i < 400; i++) yield { id: "t" + i, text: "患者主诉头痛三天，伴有发热和咳嗽，体温三十八度五，建议血常规检查。" + (i % 200) };
      }
      const r = await dedup(docs(), { threads: 2, batchSize: 64 });
      process.stdout.write(JSON.stringify(r.report.counts));
    `);
    expect(r.status, r.stderr).toBe(0);
    const counts = JSON.parse(r.stdout) as Record<string, number>;
    expect(Object.values(counts).some((v) => v === 400)).toBe(true);
  }, 150_000);

  it("both pools with per-process flags a worker's execArgv may not carry (--max-old-space-size, --stack-size, --title)", () => {
    // Node refuses these in an explicit execArgv (ERR_WORKER_INVALID_EXEC_ARGV); common on big data jobs
    const r = oneLiner(
      `
      import { rougeLBatch } from "@sfmed/eval-metrics";
      import { dedup } from "@sfmed/dedup";
      const pairs = Array.from({ length: 2000 }, (_, i) => ({ candidate: "头痛发热" + i, reference: "头痛发烧" + (i % 7) }));
      const a = await rougeLBatch(pairs, { threads: 2, chunkSize: 300 });
      // 50 unrelated texts, each four times
      const text = (i) => Array.from({ length: 40 }, (_, k) => String.fromCodePoint(0x4e00 + ((i * 997 + k * 31) % 8000))).join("");
      async function* docs() { for (let i = 0; i < 200; i++) yield { id: "t" + i, text: text(i % 50) }; }
      const d = await dedup(docs(), { threads: 2, batchSize: 32 });
      process.stdout.write(JSON.stringify({ n: a.length, kept: d.keep.reduce((x, y) => x + y, 0) }));
    `,
      ["--max-old-space-size=700", "--stack-size=900", "--title=sfmed-test"],
    );
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ n: 2000, kept: 50 });
  }, 150_000);
});
