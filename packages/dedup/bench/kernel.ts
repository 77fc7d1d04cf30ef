// The hot kernel alone, single thread, on the benchmark corpus: where a document's time goes
// (normalise, shingle hashes, MinHash, band keys), and signature batches on 0/1/2 worker threads.
//
//   npx tsx --conditions=@sfmed/source packages/dedup/bench/kernel.ts [--n 50000]
import { readFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { bandKeysInto, codePointsInto, minhashInto, shingleHashesInto } from "../src/minhash-kernel.js";
import { MinHasher } from "../src/minhasher.js";
import { normalizeText } from "../src/normalize-text.js";
import { createSignaturePool } from "../src/signature-pool.js";
import { corpusFile } from "./corpus.js";

const args = process.argv.slice(2);
const ni = args.indexOf("--n");
const n = ni >= 0 ? Number(args[ni + 1]) : 50000;
const file = await corpusFile(n);
const raw = readFileSync(file, "utf8").split("\n").filter(Boolean);

const time = (label: string, fn: () => void, reps = 3) => {
  fn(); // warm up
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    fn();
    ts.push(performance.now() - t);
  }
  const ms = ts.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
  return { label, ms, docsPerS: (raw.length / ms) * 1000 };
};

let texts: string[] = [];
const rows = [];
rows.push(time("JSON.parse of a JSONL line", () => (texts = raw.map((l) => (JSON.parse(l) as { text: string }).text))));
let norm: string[] = [];
rows.push(time("normalizeText (NFKC, lower, L/N only)", () => (norm = texts.map(normalizeText))));
const h = new MinHasher();
let cps: Int32Array = new Int32Array(4096);
const hashes = new Int32Array(8192);
const sets: Int32Array[] = [];
rows.push(
  time("code points + 5-gram hashes + sort/unique", () => {
    sets.length = 0;
    for (const s of norm) {
      const [len, c] = codePointsInto(s, cps);
      cps = c;
      const m = shingleHashesInto(cps, len, 5, hashes);
      sets.push(hashes.slice(0, m));
    }
  }),
);
const sig = new Int32Array(128);
rows.push(time("MinHash, 128 permutations", () => sets.forEach((s) => minhashInto(s, s.length, h.a, h.b, 128, sig))));
const keys = new Int32Array(36);
rows.push(time("band keys 18×6", () => sets.forEach(() => bandKeysInto(sig, 18, 6, keys, 0))));

const params = { numPerm: 128, seed: 1, ngram: 5, bands: 18, rows: 6, keepShingles: true, keepSignatures: false };
for (const threads of [0, 1, 2]) {
  const pool = createSignaturePool(params, threads);
  const t = performance.now();
  const jobs: Array<Promise<unknown>> = [];
  for (let i = 0; i < texts.length; i += 1024) jobs.push(pool.compute(texts.slice(i, i + 1024)));
  await Promise.all(jobs);
  const ms = performance.now() - t;
  await pool.close();
  rows.push({ label: `signature batches, ${threads} worker threads (normalise → band keys + shingle sets)`, ms, docsPerS: (texts.length / ms) * 1000 });
}
console.log(`\n${raw.length} docs, mean ${Math.round(texts.reduce((a, s) => a + s.length, 0) / texts.length)} chars, ${Math.round(sets.reduce((a, s) => a + s.length, 0) / sets.length)} shingles; ${cpus()[0]?.model} × ${availableParallelism()}, Node ${process.version}\n`);
console.log("| step | ms | docs/s |\n|---|---|---|");
for (const r of rows) console.log(`| ${r.label} | ${r.ms.toFixed(0)} | ${Math.round(r.docsPerS).toLocaleString("en-US")} |`);
