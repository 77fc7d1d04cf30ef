// sfmed dedup against the native peers (rensa and gaoya, Rust) and datasketch, end to end (read JSONL → dedup →
// write kept JSONL + report), one table per corpus: docs/s, peak RSS, the ratio to each peer, removed documents,
// and sfmed's pair precision/recall at J ≥ 0.8 against an exact all-pairs join. Runs alternate between the tools
// (sfmed, rensa, gaoya, datasketch, then again), medians are printed with every run and the load average. CPU
// seconds (all threads) are printed beside wall time: on a busy machine they are the steadier comparison.
//
//   flock /tmp/sfmed-bench.lock npx tsx --conditions=@sfmed/source packages/dedup/bench/vs-peers.ts \
//     [--n 50000] [--len 155,570] [--runs 3] [--threads 2] [--datasketch-runs 1]
//
// sfmed runs as users run it: the built CLI, `node packages/cli/dist/bin.js dedup …`, timed from process spawn to
// exit (Node start-up included). The peers are timed inside their Python process after imports (start-up not
// counted), by bench/peer_bench.py and bench/datasketch_bench.py. Needs the bench venv:
//   python3 -m venv ~/.cache/sfmed/bench-dedup && ~/.cache/sfmed/bench-dedup/bin/pip install datasketch rensa gaoya
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { dedup } from "../src/dedup.js";
import { CACHE, corpusFile } from "./corpus.js";
import { exactPairs, shingleSets, truthRemoved } from "./ground-truth.js";
import { checkBuilt, runSfmed } from "./sfmed-process.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const n = Number(opt("n", "50000"));
const runs = Number(opt("runs", "3"));
const dsRuns = Number(opt("datasketch-runs", "1"));
const threads = Number(opt("threads", String(availableParallelism())));
const lens = opt("len", "155,570").split(",").map(Number);
checkBuilt();
const here = path.dirname(fileURLToPath(import.meta.url));
const python = path.join(CACHE, "bin", "python");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
const load = () => loadavg().map((x) => x.toFixed(1)).join(" ");

interface Run {
  total: number;
  /** CPU seconds (all threads); Python's include its imports, sfmed's its whole process. */
  cpu: number;
  rss: number;
  removed: number;
  tool: string;
}

function peer(tool: string, file: string): Run {
  const out = mkdtempSync(path.join(tmpdir(), `${tool}-bench-`));
  const script = tool === "datasketch" ? ["datasketch_bench.py", file, out] : ["peer_bench.py", tool, file, out];
  const line = execFileSync(python, [path.join(here, script[0]!), ...script.slice(1)], { encoding: "utf8", maxBuffer: 1 << 26 });
  rmSync(out, { recursive: true, force: true });
  const r = JSON.parse(line.trim().split("\n").pop()!) as { total_s: number; cpu_s: number; peak_rss_mb: number; removed: number; tool: string };
  return { total: r.total_s, cpu: r.cpu_s, rss: r.peak_rss_mb, removed: r.removed, tool: r.tool };
}

function sfmed(file: string): Run {
  const out = mkdtempSync(path.join(tmpdir(), "sfmed-bench-"));
  const res = runSfmed(file, out, String(threads));
  const rep = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8")) as { counts: { removed: number } };
  rmSync(out, { recursive: true, force: true });
  return { total: res.total_s, cpu: res.cpu_s ?? Number.NaN, rss: res.peak_rss_mb, removed: rep.counts.removed, tool: `sfmed dedup, built CLI (${threads} threads)` };
}

console.log(`${cpus()[0]?.model ?? "cpu"} × ${availableParallelism()}, Node ${process.version}; medians of ${runs} alternating runs (datasketch: ${dsRuns})\n`);
for (const len of lens) {
  const file = await corpusFile(n, 42, len);
  const docs = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: string; text: string });
  const N = docs.length;
  const chars = docs.reduce((a, d) => a + d.text.length, 0) / N;
  // ground truth and sfmed's pair quality (in process, with the pair audit hook)
  const truth = exactPairs(shingleSets(docs.map((d) => d.text)), 0.8);
  const accepted: number[] = [];
  const q = await dedup(docs, { threads, onPair: (a, b, ok) => ok && accepted.push(a < b ? a * N + b : b * N + a) });
  let tp = 0;
  for (const k of accepted) if (truth.has(k)) tp++;
  let recalled = 0;
  for (const k of truth) {
    const a = Math.floor(k / N);
    const b = k % N;
    if (q.cluster[a]! >= 0 && q.cluster[a] === q.cluster[b]) recalled++;
  }
  const load0 = load();
  const results: Record<string, Run[]> = { sfmed: [], rensa: [], gaoya: [], datasketch: [] };
  for (let r = 0; r < runs; r++) {
    results.sfmed!.push(sfmed(file));
    results.rensa!.push(peer("rensa", file));
    results.gaoya!.push(peer("gaoya", file));
    if (r < dsRuns) results.datasketch!.push(peer("datasketch", file));
    console.error(`len ${len} run ${r + 1}: ${Object.entries(results).map(([k, v]) => `${k} ${v.at(-1)?.total.toFixed(2) ?? "-"} s`).join(", ")}`);
  }
  const sf = median(results.sfmed!.map((x) => x.total));
  const sfCpu = median(results.sfmed!.map((x) => x.cpu));
  console.log(`### ${N.toLocaleString("en-US")} docs, mean ${Math.round(chars)} chars (bench/corpus.ts, len ${len}); truth: ${truth.size} pairs with J ≥ 0.8, ${truthRemoved(N, truth)} docs to remove; load average ${load0} → ${load()}\n`);
  console.log("| tool | end-to-end docs/s | sfmed / tool | CPU s | sfmed / tool (CPU) | peak RSS | removed | per-run s |\n|---|---|---|---|---|---|---|---|");
  for (const [name, rs] of Object.entries(results)) {
    if (!rs.length) continue;
    const t = median(rs.map((x) => x.total));
    const c = median(rs.map((x) => x.cpu));
    console.log(`| ${rs[0]!.tool} | ${fmt(N / t)} | ${name === "sfmed" ? "" : `${(t / sf).toFixed(2)}×`} | ${c.toFixed(2)} | ${name === "sfmed" ? "" : `${(c / sfCpu).toFixed(2)}×`} | ${Math.max(...rs.map((x) => x.rss)).toFixed(0)} MB | ${rs[0]!.removed} | ${rs.map((x) => x.total.toFixed(2)).join(", ")} |`);
  }
  console.log(`\nsfmed pair precision ${(accepted.length ? tp / accepted.length : 1).toFixed(4)} (${accepted.length} verified edges), pair recall ${(truth.size ? recalled / truth.size : 1).toFixed(4)} at J ≥ 0.8.\n`);
}
