/**
 * ROUGE-L pairs/s on 1 thread (rougeLMany, in this thread) against 2 threads (rougeLBatch: this thread and one
 * worker of its persistent shared pool), at 5k, 20k and 100k answer-length pairs (~300 characters, cut from the
 * committed Huatuo-26M answers in data/samples). Runs alternate 1 thread / 2 threads; each figure is the median of ROUNDS runs.
 * The pool is warmed first (worker start and JIT are paid once per process, not per call). The last column
 * starts a fresh 2-worker pool for every call, as rougeLBatch did before it kept its pool. The CPU columns are
 * this process's CPU time per pair over all its threads (medians): unlike wall time they show the cost of the
 * threaded path even on a loaded machine, where the 2-thread wall-clock speed-up cannot show.
 *
 *   npx tsx --conditions=@sfmed/source packages/eval-metrics/bench/rouge-pool.ts [rounds=7]
 */
import { loadavg, availableParallelism } from "node:os";
import { seededRandom } from "@sfmed/schema";
import { readSample } from "@sfmed/test-utils";
import { createRougePool, rougeLBatch, rougeLMany, type RougePair } from "../src/rouge-batch.js";

const rounds = Number(process.argv[2] ?? 7);
const items = JSON.parse(readSample("huatuo26m_test/huatuo26M_test.json")) as { output: string[] }[];
const corpus = items.map((it) => it.output[0] ?? "").join("");
const rand = seededRandom(7);
const answer = () => {
  const len = 250 + Math.floor(rand() * 100);
  const at = Math.floor(rand() * (corpus.length - len));
  return corpus.slice(at, at + len);
};
const makePairs = (n: number): RougePair[] => Array.from({ length: n }, () => ({ candidate: answer(), reference: answer() }));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
let lastCpu = 0;
const time = async (f: () => unknown) => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const c = process.cpuUsage(c0);
  lastCpu = (c.user + c.system) / 1000;
  return performance.now() - t0;
};

console.log(`node ${process.version}, ${availableParallelism()} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} at start; ${rounds} alternating rounds`);
// start and warm the shared pool: JIT and Wasm tier-up on both threads take a few tens of thousands of pairs
const warm = makePairs(20_000);
for (let w = 0; w < 3; w++) {
  await rougeLBatch(warm, { threads: 2 });
  rougeLMany(warm);
}
console.log("| pairs | 1 thread (pairs/s) | 2 threads (pairs/s) | speed-up | 2 threads, pool per call (pairs/s) | CPU µs/pair, 1 thread | CPU µs/pair, 2 threads |");
console.log("|---:|---:|---:|---:|---:|---:|---:|");
for (const n of [5_000, 20_000, 100_000]) {
  const pairs = makePairs(n);
  const one: number[] = [];
  const two: number[] = [];
  const cold: number[] = [];
  const cpu1: number[] = [];
  const cpu2: number[] = [];
  let same = true;
  for (let r = 0; r < rounds; r++) {
    let a: { f: number }[] = [];
    let b: { f: number }[] = [];
    one.push(await time(() => (a = rougeLMany(pairs))));
    cpu1.push(lastCpu);
    two.push(await time(async () => (b = await rougeLBatch(pairs, { threads: 2 }))));
    cpu2.push(lastCpu);
    same &&= a.every((s, i) => s.f === b[i]!.f);
    cold.push(
      await time(async () => {
        await using pool = createRougePool({ threads: 2 });
        await pool.score(pairs);
      }),
    );
  }
  const p1 = n / (median(one) / 1000);
  const p2 = n / (median(two) / 1000);
  const p3 = n / (median(cold) / 1000);
  const fmt = (x: number) => Math.round(x).toLocaleString("en");
  const us = (xs: number[]) => ((median(xs) * 1000) / n).toFixed(2);
  console.log(`| ${n.toLocaleString("en")} | ${fmt(p1)} | ${fmt(p2)} | ${(p2 / p1).toFixed(2)}×${same ? "" : " (SCORES DIFFER)"} | ${fmt(p3)} | ${us(cpu1)} | ${us(cpu2)} |`);
}
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} at end`);
