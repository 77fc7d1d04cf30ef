// sfmed dedup vs datasketch on the same corpus (real texts from ../shared/data with seeded edits):
// docs/s for signatures and end to end, peak RSS, pair precision/recall against an exact all-pairs join, and
// removed documents against the ground-truth graph.
//
//   npx tsx --conditions=@sfmed/source packages/dedup/bench/vs-datasketch.ts [--n 50000] [--runs 3] [--threads 2] [--from-source]
//
// sfmed runs as the built CLI (build schema, dedup and cli with `npx tsup` first), timed from process spawn to
// exit; `--from-source` runs the CLI from TypeScript sources through tsx instead.
//
// Needs the bench venv: python3 -m venv ~/.cache/sfmed/bench-dedup && ~/.cache/sfmed/bench-dedup/bin/pip install datasketch
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
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const n = opt("n", 50000);
const runs = opt("runs", 3);
const threads = opt("threads", 2);
const fromSource = args.includes("--from-source");
if (!fromSource) checkBuilt();
const here = path.dirname(fileURLToPath(import.meta.url));
const python = path.join(CACHE, "bin", "python");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const load0 = loadavg().map((x) => x.toFixed(1)).join(" ");
const file = await corpusFile(n);
const docs = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: string; text: string });
console.error(`corpus ${file}: ${docs.length} docs, mean ${Math.round(docs.reduce((a, d) => a + d.text.length, 0) / docs.length)} chars`);

// Ground truth.
const t = performance.now();
const sets = shingleSets(docs.map((d) => d.text));
const truth = exactPairs(sets, 0.8);
const truthRm = truthRemoved(docs.length, truth);
console.error(`ground truth: ${truth.size} pairs with J ≥ 0.8, ${truthRm} docs to remove (${((performance.now() - t) / 1000).toFixed(1)} s)`);

// sfmed quality (in process, with the pair audit hook).
const accepted: number[] = [];
const q = await dedup(docs, { threads, onPair: (a, b, ok) => ok && accepted.push(a < b ? a * n + b : b * n + a) });
let truePos = 0;
for (const k of accepted) if (truth.has(k)) truePos++;
let recalled = 0;
for (const k of truth) {
  const a = Math.floor(k / n);
  const b = k % n;
  if (q.cluster[a]! >= 0 && q.cluster[a] === q.cluster[b]) recalled++;
}
const sfPrecision = accepted.length ? truePos / accepted.length : 1;
const sfRecall = truth.size ? recalled / truth.size : 1;

// sfmed and datasketch end to end, child processes, interleaved so both see the same machine load
// (the first datasketch run also dumps its LSH candidate pairs, untimed).
const sfRuns: Array<{ total: number; sig: number; rss: number; removed: number }> = [];
const dsRuns: Array<{ total: number; sig: number; rss: number; removed: number; tool: string; bands: number; rows: number }> = [];
const pairsFile = path.join(tmpdir(), `ds-pairs-${process.pid}.bin`);
for (let r = 0; r < runs; r++) {
  let out = mkdtempSync(path.join(tmpdir(), "sfmed-bench-"));
  const res = runSfmed(file, out, String(threads), { fromSource });
  const rep = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8"));
  sfRuns.push({ total: res.total_s, sig: rep.timings.signatures, rss: res.peak_rss_mb, removed: rep.counts.removed });
  rmSync(out, { recursive: true, force: true });
  console.error(`sfmed run ${r + 1}: ${res.total_s.toFixed(2)} s, signatures ${rep.timings.signatures} s, ${res.peak_rss_mb.toFixed(0)} MB`);

  out = mkdtempSync(path.join(tmpdir(), "ds-bench-"));
  const extra = r === 0 ? ["--pairs", pairsFile] : [];
  const dsLine = execFileSync(python, [path.join(here, "datasketch_bench.py"), file, out, ...extra], { encoding: "utf8", maxBuffer: 1 << 26 });
  const ds = JSON.parse(dsLine.trim().split("\n").pop()!);
  dsRuns.push({ total: ds.total_s, sig: ds.signatures_s, rss: ds.peak_rss_mb, removed: ds.removed, tool: ds.tool, bands: ds.bands, rows: ds.rows });
  rmSync(out, { recursive: true, force: true });
  console.error(`datasketch run ${r + 1}: ${ds.total_s.toFixed(2)} s, signatures ${ds.signatures_s.toFixed(2)} s, ${ds.peak_rss_mb.toFixed(0)} MB`);
}
const buf = readFileSync(pairsFile);
rmSync(pairsFile, { force: true });
const cand = new BigInt64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
let dsTp = 0;
for (const k of cand) if (truth.has(Number(k))) dsTp++;
const dsPrecision = cand.length ? dsTp / cand.length : 1;
const dsRecall = truth.size ? dsTp / truth.size : 1;

const N = docs.length;
const sf = { total: median(sfRuns.map((r) => r.total)), sig: median(sfRuns.map((r) => r.sig)), rss: Math.max(...sfRuns.map((r) => r.rss)), removed: sfRuns[0]!.removed };
const ds = { total: median(dsRuns.map((r) => r.total)), sig: median(dsRuns.map((r) => r.sig)), rss: Math.max(...dsRuns.map((r) => r.rss)), removed: dsRuns[0]!.removed };
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
console.log(`\n${N.toLocaleString("en-US")} docs, ${cpus()[0]?.model ?? "cpu"} × ${availableParallelism()}, Node ${process.version}, ${dsRuns[0]!.tool}, median of ${runs} runs, load average before/after ${load0} / ${loadavg().map((x) => x.toFixed(1)).join(" ")}\n`);
console.log(`per run, sfmed s: ${sfRuns.map((r) => r.total.toFixed(2)).join(", ")}; datasketch s: ${dsRuns.map((r) => r.total.toFixed(2)).join(", ")}; ratios: ${sfRuns.map((r, i) => (dsRuns[i]!.total / r.total).toFixed(1) + "×").join(", ")}\n`);
console.log("| tool | signatures docs/s | end-to-end docs/s | peak RSS | pair precision | pair recall | removed (truth " + truthRm + ") |");
console.log("|---|---|---|---|---|---|---|");
console.log(`| sfmed dedup ${fromSource ? "CLI from sources (tsx)" : "built CLI"} (${threads} threads, ${q.report.params.bands}×${q.report.params.rows}, exact verify) | ${fmt(N / sf.sig)} | ${fmt(N / sf.total)} | ${sf.rss.toFixed(0)} MB | ${sfPrecision.toFixed(4)} | ${sfRecall.toFixed(4)} | ${sf.removed} |`);
console.log(`| datasketch MinHash + MinHashLSH (1 process, ${dsRuns[0]!.bands}×${dsRuns[0]!.rows}, no verify) | ${fmt(N / ds.sig)} | ${fmt(N / ds.total)} | ${ds.rss.toFixed(0)} MB | ${dsPrecision.toFixed(4)} | ${dsRecall.toFixed(4)} | ${ds.removed} |`);
console.log(`| ratio sfmed / datasketch | ${(ds.sig / sf.sig).toFixed(1)}× | ${(ds.total / sf.total).toFixed(1)}× | ${(sf.rss / ds.rss).toFixed(2)}× | | | |`);
console.log(`\nsfmed pair precision: verified edges with exact J ≥ 0.8 (${accepted.length} edges); pair recall: truth pairs that end in one cluster.`);
console.log(`datasketch pairs: LSH candidates of an index holding every document (${cand.length}); removed: query-then-insert.`);
console.log(`sfmed removed docs whose J to their survivor < 0.8 (transitive closure): ${q.report.counts.removedBelowThreshold}`);
