// Runs `sfmed dedup` end to end (read JSONL → dedup → write kept + report) in a child process for the
// benchmarks: by default the built CLI as users run it (`node packages/cli/dist/bin.js`, timed from spawn to exit,
// so Node start-up and module loading count), or with `fromSource` the CLI from TypeScript sources through tsx
// (bench/run-sfmed.ts, timed inside the process after tsx has loaded).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "../../..");
const bin = path.join(repo, "packages/cli/dist/bin.js");

export interface SfmedRun {
  total_s: number;
  peak_rss_mb: number;
  /** CPU seconds of the whole process, worker threads included (built CLI only). */
  cpu_s?: number;
}

/** Fail early when the built CLI is missing or older than the dedup sources it bundles. */
export function checkBuilt(): void {
  if (!existsSync(bin) || !existsSync(path.join(repo, "packages/dedup/dist/index.js"))) {
    throw new Error("build first: (cd packages/schema && npx tsup) && (cd packages/dedup && npx tsup) && (cd packages/cli && npx tsup), or pass --from-source");
  }
}

export function runSfmed(corpus: string, out: string, threads: string, opts: { fromSource?: boolean; extra?: string[] } = {}): SfmedRun {
  const extra = opts.extra ?? [];
  if (opts.fromSource) {
    const line = execFileSync(process.execPath, ["--import", "tsx", "--conditions=@sfmed/source", path.join(here, "run-sfmed.ts"), corpus, out, threads, ...extra], { cwd: repo, encoding: "utf8" });
    return JSON.parse(line.trim().split("\n").pop()!) as SfmedRun;
  }
  const args = ["--import", path.join(here, "peak-rss.mjs"), bin, "--quiet", "dedup", corpus, "-o", `${out}/kept.jsonl`, "--report", `${out}/report.json`, "--threads", threads, ...extra];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: repo, encoding: "utf8", maxBuffer: 1 << 26 });
  const total = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`sfmed dedup failed (${r.status}): ${r.stderr}`);
  const rss = JSON.parse(r.stderr.trim().split("\n").pop()!) as { peak_rss_mb: number; cpu_s: number };
  return { total_s: total, peak_rss_mb: rss.peak_rss_mb, cpu_s: rss.cpu_s };
}
