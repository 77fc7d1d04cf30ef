/**
 * ROUGE-L pairs/s on 1 thread (rougeLMany, in this thread) against a persistent 2-worker pool (rougeLBatch's
 * shared pool), at 5k, 20k and 100k answer-length pairs (~300 characters, cut from the committed Huatuo-26M
 * answers in data/samples). Runs alternate 1 thread / 2 threads; each figure is the median of ROUNDS runs.
 * The pool is warmed first (worker start and JIT are paid once per process, not per call). The last column
 * starts a fresh 2-worker pool for every call, as rougeLBatch did before it kept its pool.
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
const time = async (f: () => unknown) => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};

console.log(`node ${process.version}, ${availableParallelism()} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} at start; ${rounds} alternating rounds`);
await rougeLBatch(makePairs(4000), { threads: 2 }); // start and warm the shared pool
rougeLMany(makePairs(4000));
console.log("| pairs | 1 thread (pairs/s) | 2 threads (pairs/s) | speed-up | 2 threads, pool per call (pairs/s) |");
console.log("|---:|---:|---:|---:|---:|");
for (const n of [5_000, 20_000, 100_000]) {
  const pairs = makePairs(n);
  const one: number[] = [];
  const two: number[] = [];
  const cold: number[] = [];
  let same = true;
  for (let r = 0; r < rounds; r++) {
    let a: { f: number }[] = [];
    let b: { f: number }[] = [];
    one.push(await time(() => (a = rougeLMany(pairs))));
    two.push(await time(async () => (b = await rougeLBatch(pairs, { threads: 2 }))));
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
  console.log(`| ${n.toLocaleString("en")} | ${fmt(p1)} | ${fmt(p2)} | ${(p2 / p1).toFixed(2)}×${same ? "" : " (SCORES DIFFER)"} | ${fmt(p3)} |`);
}
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} at end`);
