// Gate lookup speed: the exact Float32Array cosine scan against usearch (exact search and HNSW) on the same
// random unit vectors. Run: npx tsx --conditions=@sfmed/source packages/privacy-probe/bench/cosine-scan.ts
import { exactSearch, MetricKind, type Matches } from "usearch";
import { ExactCosineIndex } from "../src/index.js";
import { UsearchIndex } from "../src/usearch.js";

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function matrix(rows: number, dim: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: rows * dim }, r);
}

function time(fn: () => void, reps: number): number {
  fn();
  const t = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t) / reps;
}

const cases = [
  { rows: 512, dim: 4096, queries: 100 }, // the paper's 512 high-risk samples at GLM-4-9B width
  { rows: 5_000, dim: 1024, queries: 50 },
];
const table: string[] = ["| entries × dim | exact scan (ms/query) | usearch exactSearch (ms/query) | usearch HNSW (ms/query) | HNSW build (s) | HNSW top-1 = exact |", "|---|---|---|---|---|---|"];
for (const c of cases) {
  const data = matrix(c.rows, c.dim, 1);
  const qs = matrix(c.queries, c.dim, 2);
  const exact = new ExactCosineIndex(c.dim, c.rows);
  for (let r = 0; r < c.rows; r++) exact.add(`e${r}`, data.subarray(r * c.dim, (r + 1) * c.dim));
  const q = (i: number) => qs.subarray(i * c.dim, (i + 1) * c.dim);
  const tExact = time(() => {
    for (let i = 0; i < c.queries; i++) exact.nearest(q(i));
  }, 3) / c.queries;
  const unit = exact.matrix();
  const tUsearchExact = time(() => {
    for (let i = 0; i < c.queries; i++) exactSearch(unit, q(i), c.dim, 1, MetricKind.Cos, 1) as Matches;
  }, 3) / c.queries;
  const t0 = performance.now();
  const hnsw = new UsearchIndex({ dim: c.dim });
  for (let r = 0; r < c.rows; r++) hnsw.add(`e${r}`, data.subarray(r * c.dim, (r + 1) * c.dim));
  const build = (performance.now() - t0) / 1000;
  const tHnsw = time(() => {
    for (let i = 0; i < c.queries; i++) hnsw.search(q(i), 1);
  }, 3) / c.queries;
  let agree = 0;
  for (let i = 0; i < c.queries; i++) if (hnsw.search(q(i), 1)[0]!.id === exact.nearest(q(i))!.id) agree++;
  table.push(`| ${c.rows} × ${c.dim} | ${tExact.toFixed(3)} | ${tUsearchExact.toFixed(3)} (${(tExact / tUsearchExact).toFixed(2)}× ours) | ${tHnsw.toFixed(3)} | ${build.toFixed(2)} | ${agree}/${c.queries} |`);
}
console.log(table.join("\n"));
