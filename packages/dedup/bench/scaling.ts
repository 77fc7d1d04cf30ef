// Scaling of `sfmed dedup` end to end (read JSONL → dedup → write kept + report) on generated corpora:
// wall time, peak RSS (worker threads included) and the time per phase.
//
//   npx tsx --conditions=@sfmed/source packages/dedup/bench/scaling.ts [--sizes 100000,1000000] [--threads 2] [--lib]
//
// Default: the `sfmed dedup` CLI from sources. `--lib`: the built library (run `npx tsup` in packages/dedup
// first) with a plain JSONL reader/writer (bench/run-lib.ts), i.e. without the CLI's and tsx's memory.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { corpusFile } from "./corpus.js";

const args = process.argv.slice(2);
const get = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const sizes = (get("sizes") ?? "100000,1000000").split(",").map(Number);
const threads = get("threads") ?? "2";
const lib = args.includes("--lib");
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");

const rows: string[] = [];
for (const n of sizes) {
  const t = performance.now();
  const file = await corpusFile(n);
  console.error(`corpus ${n}: ${file} (${(statSync(file).size / 2 ** 20).toFixed(0)} MiB, ${((performance.now() - t) / 1000).toFixed(0)} s to make)`);
  const out = mkdtempSync(path.join(tmpdir(), "sfmed-scale-"));
  try {
    const runner = lib ? ["--import", "tsx", path.join(here, "run-lib.ts")] : ["--import", "tsx", "--conditions=@sfmed/source", path.join(here, "run-sfmed.ts")];
    const line = execFileSync(process.execPath, [...runner, file, out, threads], {
      cwd: repo,
      encoding: "utf8",
    });
    const res = JSON.parse(line.trim().split("\n").pop()!) as { total_s: number; peak_rss_mb: number };
    const rep = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8"));
    const tm = rep.timings as Record<string, number>;
    const row = `| ${n.toLocaleString("en-US")} | ${res.total_s.toFixed(1)} s | ${Math.round(n / res.total_s).toLocaleString("en-US")} | ${res.peak_rss_mb.toFixed(0)} MB | ${tm.signatures} s | ${tm.global} s | ${tm.clusters} s | ${(res.total_s - tm.total!).toFixed(1)} s | ${rep.counts.removed.toLocaleString("en-US")} | ${rep.counts.largestCluster} |`;
    rows.push(row);
    console.error(row);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
console.log(`\n${lib ? "library (dist)" : "sfmed dedup CLI"}, ${cpus()[0]?.model} × ${availableParallelism()}, Node ${process.version}, ${threads} worker threads\n`);
console.log("| docs | wall | docs/s | peak RSS | signatures (read + sign) | bands + verify | clusters | write outputs | removed | largest cluster |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
