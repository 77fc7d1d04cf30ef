// Scaling of `sfmed dedup` end to end (read JSONL → dedup → write kept + report) on generated corpora:
// wall time, peak RSS (worker threads included) and the time per phase.
//
//   npx tsx --conditions=@sfmed/source packages/dedup/bench/scaling.ts [--sizes 100000,1000000] [--threads 2]
//       [--from-source | --lib] [--delete-corpus]
//
// Default: the built `sfmed dedup` CLI (`node packages/cli/dist/bin.js`; build schema, dedup and cli with
// `npx tsup` first), timed from spawn to exit. `--from-source`: the CLI from TypeScript sources through tsx.
// `--lib`: the built library's `dedup` over parsed records with a plain JSONL reader/writer (bench/run-lib.ts).
// `--delete-corpus`: remove each generated corpus after its run (10M documents are ≈6 GB).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { corpusFile } from "./corpus.js";
import { checkBuilt, runSfmed } from "./sfmed-process.js";

const args = process.argv.slice(2);
const get = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const sizes = (get("sizes") ?? "100000,1000000").split(",").map(Number);
const threads = get("threads") ?? "2";
const lib = args.includes("--lib");
const fromSource = args.includes("--from-source");
const deleteCorpus = args.includes("--delete-corpus");
if (!lib && !fromSource) checkBuilt();
const load = () => loadavg().map((x) => x.toFixed(1)).join(" ");
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");

const rows: string[] = [];
for (const n of sizes) {
  const t = performance.now();
  const file = await corpusFile(n);
  console.error(`corpus ${n}: ${file} (${(statSync(file).size / 2 ** 20).toFixed(0)} MiB, ${((performance.now() - t) / 1000).toFixed(0)} s to make)`);
  const out = mkdtempSync(path.join(tmpdir(), "sfmed-scale-"));
  try {
    const load0 = load();
    let res: { total_s: number; peak_rss_mb: number };
    if (lib) {
      const line = execFileSync(process.execPath, ["--import", "tsx", path.join(here, "run-lib.ts"), file, out, threads], { cwd: repo, encoding: "utf8" });
      res = JSON.parse(line.trim().split("\n").pop()!) as { total_s: number; peak_rss_mb: number };
    } else res = runSfmed(file, out, threads, { fromSource });
    const rep = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8"));
    const tm = rep.timings as Record<string, number>;
    const row = `| ${n.toLocaleString("en-US")} | ${res.total_s.toFixed(1)} s | ${Math.round(n / res.total_s).toLocaleString("en-US")} | ${res.peak_rss_mb.toFixed(0)} MB | ${tm.signatures} s | ${tm.global} s | ${tm.clusters} s | ${(res.total_s - tm.total!).toFixed(1)} s | ${rep.counts.removed.toLocaleString("en-US")} | ${rep.counts.largestCluster} | ${load0} → ${load()} |`;
    rows.push(row);
    console.error(row);
  } finally {
    rmSync(out, { recursive: true, force: true });
    if (deleteCorpus) rmSync(file, { force: true });
  }
}
console.log(`\n${lib ? "library (dist)" : fromSource ? "sfmed dedup CLI from sources (tsx)" : "sfmed dedup built CLI"}, ${cpus()[0]?.model} × ${availableParallelism()}, Node ${process.version}, ${threads} worker threads\n`);
console.log("| docs | wall | docs/s | peak RSS | signatures (read + sign) | bands + verify | clusters | start-up + write outputs | removed | largest cluster | load average |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
