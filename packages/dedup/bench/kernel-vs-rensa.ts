// The MinHash step alone against rensa (Rust): both sketch the same 32-bit shingle hashes (sfmed's normalised
// character 5-grams) into 128 slots, one thread and all threads, runs alternating, medians printed.
//
//   flock /tmp/sfmed-bench.lock npx tsx --conditions=@sfmed/source packages/dedup/bench/kernel-vs-rensa.ts [--n 50000] [--runs 5] [--len 155,570]
//
// One-thread rows are given in wall time and in CPU time (less sensitive to a busy machine).
// sfmed: `MinHasher.signatureOfHashes` in this process (one thread) and on N worker threads that split the
// documents (all threads = os.availableParallelism()); timed after a warm-up. rensa 0.5:
// `RMinHash.digest_matrix_from_flat_token_hashes` (its bulk API for pre-hashed tokens, no Python objects per
// token) with RAYON_NUM_THREADS=1 and unset. Needs the bench venv (see README).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { MinHasher, type Sketch } from "../src/minhasher.js";
import { codePointsInto } from "../src/minhash-kernel.js";
import { normalizedCodePointsInto, normalizeText } from "../src/normalize-text.js";
import { CACHE, corpusFile } from "./corpus.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const n = Number(opt("n", "50000"));
const runs = Number(opt("runs", "5"));
const lens = opt("len", "155,570").split(",").map(Number);
const all = availableParallelism();
const here = path.dirname(fileURLToPath(import.meta.url));
const python = path.join(CACHE, "bin", "python");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");

/** Distinct shingle hashes of every document, concatenated, and row offsets. */
function shingleHashes(file: string): { flat: Int32Array; offsets: Float64Array; chars: number } {
  const texts = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text);
  const h = new MinHasher();
  const parts: Int32Array[] = [];
  const offsets = new Float64Array(texts.length + 1);
  let cps: Int32Array = new Int32Array(1 << 16);
  let total = 0;
  let chars = 0;
  texts.forEach((t, i) => {
    chars += t.length;
    if (cps.length < t.length + 64) cps = new Int32Array(2 * t.length + 64);
    let len = normalizedCodePointsInto(t, cps);
    // texts off the fused fast path (−1) take the full normalisation, as the dedup pipeline does
    if (len < 0) [len, cps] = codePointsInto(normalizeText(t), cps);
    const part = h.shingleSetOfCodePoints(cps, len).slice();
    parts.push(part);
    total += part.length;
    offsets[i + 1] = total;
  });
  const flat = new Int32Array(new SharedArrayBuffer(4 * total));
  parts.forEach((p, i) => flat.set(p, offsets[i]!));
  return { flat, offsets, chars: chars / texts.length };
}

// Each side reads the hashes from its own plain memory, as rensa reads its NumPy array: a SharedArrayBuffer view
// (how they reach the workers) copies into the Wasm heap element by element, which would time the copy instead.
function sfmedOneThread(shared: Int32Array, offsets: Float64Array, sketch: Sketch): { s: number; cpu_s: number } {
  const flat = shared.slice();
  const h = new MinHasher({ numPerm: 128, seed: 1, sketch });
  const sig = new Int32Array(128);
  const docs = offsets.length - 1;
  for (let d = 0; d < Math.min(docs, 2000); d++) h.signatureOfHashes(flat.subarray(offsets[d]!, offsets[d + 1]!), sig);
  const t = performance.now();
  const c = process.cpuUsage();
  for (let d = 0; d < docs; d++) h.signatureOfHashes(flat.subarray(offsets[d]!, offsets[d + 1]!), sig);
  const cpu = process.cpuUsage(c);
  return { s: (performance.now() - t) / 1000, cpu_s: (cpu.user + cpu.system) / 1e6 };
}

// tsx's loader hooks do not reach worker threads started with --import on Node 20: register them in the worker.
const boot = `import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(new URL("./kernel-worker.ts", import.meta.url).href)}); });`;

async function startWorkers(flat: Int32Array, offsets: Float64Array, sketch: Sketch) {
  const ws = Array.from({ length: all }, () => new Worker(boot, { eval: true, workerData: { flat, offsets, sketch } }));
  const docs = offsets.length - 1;
  const round = (upTo: number) =>
    Promise.all(
      ws.map((w, i) => {
        const from = Math.floor((i * upTo) / ws.length);
        const to = Math.floor(((i + 1) * upTo) / ws.length);
        return new Promise((resolve) => {
          w.once("message", resolve);
          w.postMessage({ from, to });
        });
      }),
    );
  await round(Math.min(docs, 4000)); // start-up and warm-up, untimed
  return {
    async time() {
      const t = performance.now();
      await round(docs);
      return (performance.now() - t) / 1000;
    },
    close: () => Promise.all(ws.map((w) => w.terminate())),
  };
}

function rensa(dir: string, threads: number | null): { s: number; cpu_s: number; tool: string } {
  const env = { ...process.env };
  if (threads === null) delete env.RAYON_NUM_THREADS;
  else env.RAYON_NUM_THREADS = String(threads);
  const out = execFileSync(python, [path.join(here, "rensa_kernel.py"), path.join(dir, "h.u32"), path.join(dir, "o.i64")], { env, encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop()!) as { s: number; cpu_s: number; tool: string };
}

console.log(`${cpus()[0]?.model ?? "cpu"} × ${all}, Node ${process.version}, median of ${runs} alternating runs, 128 slots\n`);
for (const len of lens) {
  const file = await corpusFile(n, 42, len);
  const { flat, offsets, chars } = shingleHashes(file);
  const docs = offsets.length - 1;
  const dir = mkdtempSync(path.join(tmpdir(), "kernel-vs-rensa-"));
  writeFileSync(path.join(dir, "h.u32"), new Uint8Array(flat.buffer.slice(0)));
  writeFileSync(path.join(dir, "o.i64"), BigInt64Array.from(offsets, (x) => BigInt(x)));
  const load0 = loadavg()[0]!.toFixed(1);
  const pool = { oph: await startWorkers(flat, offsets, "oph"), minhash: await startWorkers(flat, offsets, "minhash") };
  const t: Record<string, number[]> = {};
  const add = (k: string, s: number) => (t[k] ??= []).push(s);
  let tool = "rensa";
  for (let r = 0; r < runs; r++) {
    const r1 = rensa(dir, 1);
    tool = r1.tool;
    add("rensa 1", r1.s);
    add("rensa cpu", r1.cpu_s);
    for (const sketch of ["oph", "minhash"] as const) {
      const one = sfmedOneThread(flat, offsets, sketch);
      add(`${sketch} 1`, one.s);
      add(`${sketch} cpu`, one.cpu_s);
    }
    add(`rensa ${all}`, rensa(dir, null).s);
    add(`oph ${all}`, await pool.oph.time());
    add(`minhash ${all}`, await pool.minhash.time());
  }
  await pool.oph.close();
  await pool.minhash.close();
  rmSync(dir, { recursive: true, force: true });
  const rate = (k: string) => docs / median(t[k]!);
  console.log(`### ${docs.toLocaleString("en-US")} docs, mean ${Math.round(chars)} chars, ${Math.round(flat.length / docs)} distinct 5-gram hashes each; load average ${load0} → ${loadavg()[0]!.toFixed(1)}\n`);
  console.log("| sketch | threads | docs/s | vs rensa | per-run s |\n|---|---|---|---|---|");
  const cpuBase = rate("rensa cpu");
  console.log(`| ${tool} RMinHash, CPU time | 1 | ${fmt(cpuBase)} | 1.00× | ${t["rensa cpu"]!.map((x) => x.toFixed(3)).join(", ")} |`);
  for (const sk of ["oph", "minhash"]) console.log(`| sfmed ${sk}, CPU time | 1 | ${fmt(rate(`${sk} cpu`))} | ${(rate(`${sk} cpu`) / cpuBase).toFixed(2)}× | ${t[`${sk} cpu`]!.map((x) => x.toFixed(3)).join(", ")} |`);
  for (const threads of [1, all]) {
    const base = rate(`rensa ${threads}`);
    console.log(`| ${tool} RMinHash (flat token hashes) | ${threads} | ${fmt(base)} | 1.00× | ${t[`rensa ${threads}`]!.map((x) => x.toFixed(3)).join(", ")} |`);
    console.log(`| sfmed oph (default) | ${threads} | ${fmt(rate(`oph ${threads}`))} | ${(rate(`oph ${threads}`) / base).toFixed(2)}× | ${t[`oph ${threads}`]!.map((x) => x.toFixed(3)).join(", ")} |`);
    console.log(`| sfmed minhash (Wasm SIMD) | ${threads} | ${fmt(rate(`minhash ${threads}`))} | ${(rate(`minhash ${threads}`) / base).toFixed(2)}× | ${t[`minhash ${threads}`]!.map((x) => x.toFixed(3)).join(", ")} |`);
  }
  console.log("");
}
