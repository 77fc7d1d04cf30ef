// Sharded dedup on the local executor (one process per task, `--workers` at once) over a generated corpus: wall
// time per stage, peak RSS per task, bytes written per stage, an estimate for 1B documents on 64 tasks, and a check
// that the kept records equal `sfmed dedup`'s on the same corpus (one machine, same parameters).
//
//   flock /tmp/sfmed-bench.lock npx tsx --conditions=@sfmed/source packages/dedup/bench/sharded.ts \
//     [--n 1000000 | --10m] [--shards 16] [--workers 2] [--runs 1] [--no-compare] [--keep-workdir]
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { planShards, readPlan, STAGES, writeShardedReport, type ShardedReport, type Stage } from "../src/sharded/index.js";
import { pendingTasks } from "../src/sharded/run-stage.js";
import { corpusFile } from "./corpus.js";
import { runSfmed } from "./sfmed-process.js";

const args = process.argv.slice(2);
const get = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const n = args.includes("--10m") ? 10_000_000 : Number(get("n") ?? 1_000_000);
const shards = Number(get("shards") ?? 16);
const workers = Number(get("workers") ?? 2);
const runs = Number(get("runs") ?? 1);
const compare = !args.includes("--no-compare");
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
const load = () => loadavg().map((x) => x.toFixed(1)).join(" ");
const mb = (b: number) => (b / 2 ** 20).toFixed(0);

/** Run the unfinished tasks of a stage, `workers` processes at once (what the local executor does). */
async function runStageTasks(workdir: string, stage: Stage): Promise<void> {
  const queue = await pendingTasks(workdir, await readPlan(workdir), stage);
  const lane = async () => {
    while (queue.length) {
      const t = queue.shift()!;
      const child = spawn(process.execPath, ["--import", "tsx", "--conditions=@sfmed/source", path.join(here, "sharded-task.ts"), workdir, stage, String(t)], { cwd: repo, stdio: ["ignore", "inherit", "inherit"] });
      const code = await new Promise<number | null>((r) => child.on("close", r));
      if (code !== 0) throw new Error(`${stage} task ${t} failed (exit ${code})`);
    }
  };
  await Promise.all(Array.from({ length: workers }, lane));
}

async function sha256(files: string[]): Promise<string> {
  const h = createHash("sha256");
  for (const f of files) for await (const c of createReadStream(f)) h.update(c as Buffer);
  return h.digest("hex");
}

async function shardedRun(corpus: string): Promise<{ wall: Record<string, number>; report: ShardedReport; workdir: string }> {
  const workdir = mkdtempSync(path.join(tmpdir(), "sfmed-sharded-"));
  const wall: Record<string, number> = {};
  let t = performance.now();
  await planShards([corpus], workdir, { shards });
  wall.plan = (performance.now() - t) / 1000;
  for (const stage of STAGES) {
    t = performance.now();
    await runStageTasks(workdir, stage);
    wall[stage] = (performance.now() - t) / 1000;
    console.error(`  ${stage}: ${wall[stage]!.toFixed(1)} s (load ${load()})`);
  }
  wall.total = Object.values(wall).reduce((a, b) => a + b, 0);
  return { wall, report: await writeShardedReport(workdir), workdir };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const corpus = await corpusFile(n);
console.log(`corpus: ${n} documents, ${mb(statSync(corpus).size)} MiB; ${shards} shards, ${workers} workers, ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), Node ${process.version}`);
const loadBefore = load();
const walls: Array<Record<string, number>> = [];
const oneMachine: number[] = [];
let last: { report: ShardedReport; workdir: string } | undefined;
let oneKept: string | undefined;
for (let r = 0; r < runs; r++) {
  // sharded and one-machine runs alternate so both see the same load
  if (last && !args.includes("--keep-workdir")) rmSync(last.workdir, { recursive: true, force: true });
  const s = await shardedRun(corpus);
  walls.push(s.wall);
  last = s;
  if (compare) {
    const out = mkdtempSync(path.join(tmpdir(), "sfmed-one-"));
    const one = runSfmed(corpus, out, String(workers), { fromSource: true });
    oneMachine.push(one.total_s);
    oneKept = await sha256([path.join(out, "kept.jsonl")]);
    rmSync(out, { recursive: true, force: true });
  }
}
const report = last!.report;
const same = oneKept === undefined ? "not compared" : (await sha256(report.kept)) === oneKept ? "identical" : "DIFFERENT";

console.log(`\nload average (1, 5, 15 min): ${loadBefore} → ${load()}; ${runs} run(s), medians`);
console.log(`kept ${report.counts.kept} of ${report.counts.input} (${report.counts.clusters} clusters); kept records vs sfmed dedup (one machine): ${same}`);
if (oneMachine.length) console.log(`one machine (sfmed dedup from sources, ${workers} threads): ${median(oneMachine).toFixed(1)} s`);
console.log("\n| stage | tasks | wall s | task s (sum) | slowest task s | peak RSS per task (max) | bytes written |");
console.log("|---|---|---|---|---|---|---|");
for (const stage of STAGES) {
  const st = report.stages[stage];
  console.log(`| ${stage} | ${st.tasks} | ${median(walls.map((w) => w[stage]!)).toFixed(1)} | ${st.seconds.toFixed(1)} | ${st.maxTaskSeconds.toFixed(1)} | ${mb(st.maxPeakRssBytes)} MB | ${mb(st.bytesWritten)} MiB |`);
}
console.log(`| total (plan ${median(walls.map((w) => w.plan!)).toFixed(1)} s) | | ${median(walls.map((w) => w.total!)).toFixed(1)} | | | | ${mb(STAGES.reduce((a, s) => a + report.stages[s].bytesWritten, 0))} MiB |`);

// 1B documents on 64 tasks: the parallel stages scale with documents per task (their per-document cost measured
// here); the cluster task with the edges (same duplicate rate assumed); bytes with documents.
const B = 1e9;
const scale = B / n;
const par = (s: Stage) => (report.stages[s].seconds / n) * (B / 64);
const est = { sign: par("sign"), bucket: par("bucket"), cluster: report.stages.cluster.seconds * scale, filter: par("filter") };
const hours = (s: number) => (s / 3600).toFixed(1);
console.log(`\nestimate, 1B documents on 64 tasks (from the per-task costs above; excludes process start-up and queueing):`);
console.log(`  sign ${hours(est.sign)} h, bucket ${hours(est.bucket)} h, cluster ${hours(est.cluster)} h (one task), filter ${hours(est.filter)} h; total ≈ ${hours(est.sign + est.bucket + est.cluster + est.filter)} h`);
console.log(`  bytes written ≈ ${((STAGES.reduce((a, s) => a + report.stages[s].bytesWritten, 0) * scale) / 2 ** 40).toFixed(2)} TiB (filter output included)`);
const bucketDocs = (report.counts.candidatePairs / Math.max(1, report.stages.bucket.tasks)) * scale;
console.log(`  bucket: ≈ ${(bucketDocs / 1e6).toFixed(0)} M candidate pairs per band at 1B: use --hash-ranges so one task holds ≤ 20 M (≈ ${Math.max(1, Math.ceil(bucketDocs / 2e7))})`);
if (!args.includes("--keep-workdir")) rmSync(last!.workdir, { recursive: true, force: true });
else console.log(`workdir kept: ${last!.workdir}`);
