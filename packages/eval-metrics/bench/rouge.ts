/**
 * ROUGE-L throughput against rapidfuzz (C++, bit-parallel LCS over 64-bit words), the fastest LCS a Python user
 * would reach for, on spans cut from the committed Huatuo-26M answers (whitespace removed, so both score the
 * very same code points): answer-length pairs (100–500 characters), 2,000- and 10,000-character pairs.
 *
 *   python3 -m venv ~/.cache/sfmed/bench-eval-metrics
 *   ~/.cache/sfmed/bench-eval-metrics/bin/pip install rapidfuzz rouge-score rouge-chinese jieba
 *   npx tsx --conditions=@sfmed/source packages/eval-metrics/bench/rouge.ts [rounds=5]
 *
 * Installs nothing (set SFMED_BENCH_PYTHON to use another interpreter). sfmed 1 thread is `rougeLMany` (full
 * P/R/F objects, tokenizing included); 2 threads is `rougeLBatch` on its warmed shared pool. rapidfuzz runs
 * `LCSseq.similarity` in a Python loop, and `process.cpdist(..., scorer=LCSseq.similarity)` with workers=1
 * and 2, in a long-lived child process so its runs alternate with ours (the order flips every round); each
 * figure is the median of the rounds. LCS lengths are checked equal on every pair.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, homedir, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { seededRandom } from "@sfmed/schema";
import { readSample } from "@sfmed/test-utils";
import { lcsLength } from "../src/rouge-l.js";
import { rougeLBatch, rougeLMany, type RougePair } from "../src/rouge-batch.js";
import { charCodes } from "../src/tokenize.js";

const rounds = Number(process.argv[2] ?? 5);
const python = process.env.SFMED_BENCH_PYTHON ?? join(homedir(), ".cache/sfmed/bench-eval-metrics/bin/python");
if (!existsSync(python)) throw new Error(`no bench venv at ${python} (see the header of this file)`);

const items = JSON.parse(readSample("huatuo26m_test/huatuo26M_test.json")) as { output: string[] }[];
const corpus = items.map((it) => Array.from(charCodes(it.output[0] ?? ""), (c) => String.fromCodePoint(c)).join("")).join("");
const rand = seededRandom(20);
const span = (lo: number, hi: number) => {
  const len = lo + Math.floor(rand() * (hi - lo + 1));
  const at = Math.floor(rand() * (corpus.length - len));
  return corpus.slice(at, at + len);
};
const makePairs = (n: number, lo: number, hi: number): RougePair[] => Array.from({ length: n }, () => ({ candidate: span(lo, hi), reference: span(lo, hi) }));
const sets = [
  { name: "answers, 100–500 chars", pairs: makePairs(20_000, 100, 500) },
  { name: "2,000 chars", pairs: makePairs(500, 2000, 2000) },
  { name: "10,000 chars", pairs: makePairs(40, 10_000, 10_000) },
];

// rapidfuzz in a child process, one JSON command per line.
const child = spawn(python, [join(dirname(fileURLToPath(import.meta.url)), "rouge-peer.py")], { stdio: ["pipe", "pipe", "inherit"] });
const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
const reply = async <T>(): Promise<T> => {
  const r = await lines.next();
  if (r.done) throw new Error("rapidfuzz process ended");
  return JSON.parse(r.value) as T;
};
const ask = async <T>(cmd: object): Promise<T> => {
  child.stdin.write(`${JSON.stringify(cmd)}\n`);
  return reply<T>();
};
const { version } = await reply<{ version: string }>();
const file = join(mkdtempSync(join(tmpdir(), "sfmed-rouge-bench-")), "sets.json");
writeFileSync(file, JSON.stringify(sets.map((s) => s.pairs.map((p) => [p.candidate, p.reference]))));
await ask({ load: file });

const load0 = loadavg();
let identical = true;
for (const [i, set] of sets.entries()) {
  const { lcs } = await ask<{ lcs: number[] }>({ lcs: i });
  set.pairs.forEach((p, k) => (identical &&= lcsLength(p.candidate, p.reference) === lcs[k]));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const clock = async (f: () => unknown) => {
  const t = performance.now();
  await f();
  return (performance.now() - t) / 1000;
};
const modes = ["sfmed1", "sfmed2", "loop", "cpdist1", "cpdist2"] as const;
type Mode = (typeof modes)[number];
const runOnce = async (i: number, mode: Mode): Promise<number> => {
  const pairs = sets[i]!.pairs;
  if (mode === "sfmed1") return clock(() => rougeLMany(pairs));
  if (mode === "sfmed2") return clock(() => rougeLBatch(pairs, { threads: 2 }));
  return (await ask<{ s: number }>({ run: i, mode })).s;
};

const fmt = (x: number) => Math.round(x).toLocaleString("en");
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const rows: string[] = [];
for (const [i, set] of sets.entries()) {
  // warm-up: JIT and Wasm tier-up on every thread, pool start, Wasm memory (one run left the worker on its
  // baseline code for part of the first rounds)
  for (let w = 0; w < 3; w++) for (const mode of modes) await runOnce(i, mode);
  const times = new Map<Mode, number[]>(modes.map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? modes : [...modes].reverse();
    for (const mode of order) times.get(mode)!.push(await runOnce(i, mode));
  }
  const rate = (m: Mode) => set.pairs.length / median(times.get(m)!);
  const [s1, s2, loop, c1, c2] = modes.map(rate) as [number, number, number, number, number];
  const chars = set.pairs.reduce((a, p) => a + p.candidate.length + p.reference.length, 0) / set.pairs.length / 2;
  rows.push(
    `| ${set.name} | ${fmt(set.pairs.length)} | ${fmt(chars)} | ${fmt(s1)} | ${fmt(s2)} | ${fmt(loop)} | ${fmt(c1)} | ${fmt(c2)} | **${ratio(s1, loop)}** | ${ratio(s1, c1)} | ${ratio(s2, c2)} | ${ratio(s2, s1)} |`,
  );
}
const { kib } = await ask<{ kib: number }>({ rss: true });
child.stdin.end();
const mib = (k: number) => (k / 1024).toFixed(0);
const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");

console.log(`ROUGE-L pairs/s, node ${process.version} vs rapidfuzz ${version}; ${availableParallelism()} cores; medians of ${rounds} alternating rounds`);
console.log(`load average ${load(load0)} at start, ${load(loadavg())} at the end\n`);
console.log("| pairs | n | chars/side | sfmed 1 thread | sfmed 2 threads | rapidfuzz `similarity` loop | rapidfuzz `cpdist` workers=1 | rapidfuzz `cpdist` workers=2 | 1 thread ÷ loop | 1 thread ÷ cpdist(1) | 2 threads ÷ cpdist(2) | 2 threads ÷ 1 thread |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
console.log(rows.join("\n"));
console.log(`\npeak RSS: node ${mib(process.resourceUsage().maxRSS)} MiB (workers and Wasm memory included), python ${mib(kib)} MiB`);
console.log(`identical LCS length on every pair: ${identical ? "yes" : "NO"}`);
