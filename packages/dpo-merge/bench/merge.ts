// Side-by-side benchmark of mergeCheckpoints against mergekit on the same bf16 checkpoints.
//
//   npx tsx --conditions=@sfmed/source packages/dpo-merge/bench/merge.ts [--layers 24] [--methods a,b] [--threads N] [--runs 3] [--dir D] [--keep]
//
// A method `x+l1` is method x with the L1 rescale (ours: `rescale: "l1"`; mergekit: `rescale: true`).
//
// Writes three Qwen2.5-0.5B-shaped checkpoints (untied lm_head, ≈1.26 GB of bf16 each, sharded at 500 MB) of
// random values with this package's writer (or reuses them from --dir), merges them with every method in a child
// process for each tool (wall time and peak RSS from /usr/bin/time), and compares the output tensors bit for
// bit. mergekit runs from the bench-only venv $HOME/.cache/sfmed/bench-dpo-merge (`python3 -m venv … &&
// bin/pip install mergekit`), configured to compute in float32 and write bfloat16, which is what
// mergeCheckpoints does. Fairness: both tools read the same files (read once beforehand, so both find them in
// the page cache) and write their bf16 output to the same disk; before every timed run the previous output is
// deleted and `sync` flushes dirty pages, and the order of the two tools alternates from run to run. Every run
// is printed; the table shows medians.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bf16ToF32, Checkpoint, CheckpointWriter, INDEX_FILE, mergeCheckpoints, seededRng, TopKCut, type MergeMethod } from "@sfmed/dpo-merge";

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};

// ---------------------------------------------------------------------------------------------------------
// Child mode: run one merge and print its report (the parent measures time and RSS around it).
if (args[0] === "--child") {
  const opts = JSON.parse(args[1]!);
  const report = await mergeCheckpoints(opts);
  process.stdout.write(JSON.stringify({ seconds: report.seconds, bytes: report.bytesWritten }) + "\n");
  process.exit(0);
}

const LAYERS = Number(arg("layers", "24"));
/** Worker threads for mergeCheckpoints (default: its own, the core count); 1 = the single-threaded path. */
const THREADS = arg("threads", "");
/** Method names, optionally with `+l1` (the L1 rescale). */
const METHODS = arg("methods", "linear,task_arithmetic,ties,ties+l1,slerp,dare_ties,dare_ties+l1").split(",");
const split = (name: string) => {
  const [method, variant] = name.split("+") as [MergeMethod, string | undefined];
  return { method, l1: variant === "l1" };
};
const RUNS = Number(arg("runs", "3"));
const DIR = arg("dir", "");
const VENV = process.env.SFMED_BENCH_VENV ?? path.join(homedir(), ".cache", "sfmed", "bench-dpo-merge");
const MERGEKIT = path.join(VENV, "bin", "mergekit-yaml");
const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../../..");

// Qwen2.5-0.5B geometry.
const H = 896, I = 4864, V = 151936, KV = 128;
function shapes(): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [["model.embed_tokens.weight", [V, H]]];
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}`;
    out.push(
      [`${p}.input_layernorm.weight`, [H]],
      [`${p}.self_attn.q_proj.weight`, [H, H]],
      [`${p}.self_attn.q_proj.bias`, [H]],
      [`${p}.self_attn.k_proj.weight`, [KV, H]],
      [`${p}.self_attn.k_proj.bias`, [KV]],
      [`${p}.self_attn.v_proj.weight`, [KV, H]],
      [`${p}.self_attn.v_proj.bias`, [KV]],
      [`${p}.self_attn.o_proj.weight`, [H, H]],
      [`${p}.post_attention_layernorm.weight`, [H]],
      [`${p}.mlp.gate_proj.weight`, [I, H]],
      [`${p}.mlp.up_proj.weight`, [I, H]],
      [`${p}.mlp.down_proj.weight`, [H, I]],
    );
  }
  out.push(["model.norm.weight", [H]], ["lm_head.weight", [V, H]]);
  return out;
}

const config = {
  architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", hidden_size: H, intermediate_size: I, num_hidden_layers: LAYERS,
  num_attention_heads: 14, num_key_value_heads: 2, vocab_size: V, max_position_embeddings: 32768, rms_norm_eps: 1e-6,
  rope_theta: 1000000, tie_word_embeddings: false, torch_dtype: "bfloat16", hidden_act: "silu",
};

/** Uniform deviates with standard deviation `scale` (inline xorshift32: generating GBs must stay cheap). */
function fill(n: number, seed: number, scale: number, base?: Float32Array): Float32Array {
  const out = new Float32Array(n);
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const k = (scale * Math.sqrt(12)) / 4294967296;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (base ? base[i]! : 0) + ((x >>> 0) - 2147483648) * k;
  }
  return out;
}

async function writeModels(dir: string): Promise<number> {
  const specs = shapes().map(([name, shape]) => ({ name, dtype: "BF16" as const, shape }));
  const writers = await Promise.all(
    ["base", "m1", "m2"].map(async (m) => {
      await mkdir(path.join(dir, m), { recursive: true });
      await writeFile(path.join(dir, m, "config.json"), JSON.stringify(config, null, 2));
      return CheckpointWriter.create({ dir: path.join(dir, m), tensors: specs, maxShardBytes: 500_000_000 });
    }),
  );
  let bytes = 0;
  const CH = 1 << 22;
  for (const [name, shape] of shapes()) {
    const n = shape.reduce((a, d) => a * d, 1);
    const isNorm = name.endsWith("norm.weight");
    for (let s = 0; s < n; s += CH) {
      const len = Math.min(CH, n - s);
      const seed = Math.floor(seededRng(0, name, s)() * 2 ** 32);
      const base = isNorm ? fill(len, seed, 0.05, new Float32Array(len).fill(1)) : fill(len, seed, 0.02);
      await writers[0]!.writeF32Range(name, s, base);
      await writers[1]!.writeF32Range(name, s, fill(len, seed + 1, 0.002, base));
      await writers[2]!.writeF32Range(name, s, fill(len, seed + 2, 0.002, base));
    }
    bytes += n * 2;
  }
  await Promise.all(writers.map((w) => w.close()));
  return bytes;
}

interface Run {
  seconds: number;
  rssMB: number;
  ok: boolean;
  err?: string;
}

function timed(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Run {
  // Flush the previous run's dirty pages so they are not written back during this one.
  spawnSync("sync");
  const r = spawnSync("/usr/bin/time", ["-f", "TIME %e %M", cmd, ...argv], { encoding: "utf8", env, maxBuffer: 1 << 26 });
  const m = /TIME ([\d.]+) (\d+)/.exec(r.stderr);
  return { seconds: m ? Number(m[1]) : NaN, rssMB: m ? Number(m[2]) / 1024 : NaN, ok: r.status === 0, ...(r.status !== 0 ? { err: r.stderr.slice(-2000) } : {}) };
}

const W = [0.6, 0.4];
const DENSITY = 0.5;
const T = 0.3;

function ourOptions(name: string, dir: string, out: string) {
  const { method, l1 } = split(name);
  return {
    ...(l1 ? { rescale: "l1" } : {}),
    method,
    base: method === "linear" ? undefined : path.join(dir, "base"),
    models: method === "slerp" ? [path.join(dir, "m1")] : [path.join(dir, "m1"), path.join(dir, "m2")],
    weights: method === "slerp" ? undefined : W,
    density: method === "ties" || method.startsWith("dare") ? DENSITY : undefined,
    t: T,
    seed: 0,
    ...(THREADS ? { threads: Number(THREADS) } : {}),
    out,
  };
}

function mergekitYaml(name: string, dir: string): string {
  const { method, l1 } = split(name);
  const rescale = `, rescale: ${l1}`;
  const m = (name: string, weight: number, extra = "") => `  - model: ${path.join(dir, name)}\n    parameters: {weight: ${weight}${extra}}\n`;
  const dens = `, density: ${DENSITY}`;
  const head = `dtype: float32\nout_dtype: bfloat16\n`;
  switch (method) {
    case "linear":
      return `merge_method: linear\n${head}models:\n${m("m1", W[0]!)}${m("m2", W[1]!)}`;
    case "task_arithmetic":
      return `merge_method: task_arithmetic\nbase_model: ${path.join(dir, "base")}\n${head}models:\n${m("m1", W[0]!)}${m("m2", W[1]!)}`;
    case "ties":
      return `merge_method: ties\nbase_model: ${path.join(dir, "base")}\n${head}parameters: {normalize: true${rescale}}\nmodels:\n${m("m1", W[0]!, dens)}${m("m2", W[1]!, dens)}`;
    case "dare_ties":
    case "dare_linear":
      return `merge_method: ${method}\nbase_model: ${path.join(dir, "base")}\n${head}${l1 ? "parameters: {rescale: true}\n" : ""}models:\n${m("m1", W[0]!, dens)}${m("m2", W[1]!, dens)}`;
    case "slerp":
      return `merge_method: slerp\nbase_model: ${path.join(dir, "base")}\n${head}parameters: {t: ${T}}\nmodels:\n  - model: ${path.join(dir, "base")}\n  - model: ${path.join(dir, "m1")}\n`;
  }
}

/**
 * Bitwise comparison of two bf16 checkpoints: identical elements, the largest absolute difference, and for TIES
 * how many differing elements sit exactly at a model's magnitude cut (where mergekit's unstable argsort picks an
 * arbitrary subset of the equal magnitudes and we keep the lowest indices).
 */
async function compare(a: string, b: string, tiesDir?: string): Promise<{ identical: number; total: number; maxAbs: number; atCut: number }> {
  const x = await Checkpoint.open(a);
  const y = await Checkpoint.open(b);
  const inputs = tiesDir ? await Promise.all(["base", "m1", "m2"].map((m) => Checkpoint.open(path.join(tiesDir, m)))) : [];
  let identical = 0;
  let total = 0;
  let maxAbs = 0;
  let atCut = 0;
  for (const name of x.names()) {
    const u = new Uint16Array((await x.readBytes(name)).buffer);
    const v = new Uint16Array((await y.readBytes(name)).buffer);
    const fu = bf16ToF32(u);
    const fv = bf16ToF32(v);
    let deltas: Float32Array[] = [];
    let cuts: number[] = [];
    for (let i = 0; i < u.length; i++) {
      total++;
      if (u[i] === v[i]) {
        identical++;
        continue;
      }
      maxAbs = Math.max(maxAbs, Math.abs(fu[i]! - fv[i]!));
      if (inputs.length && cuts.length === 0) {
        const [b0, ...ms] = await Promise.all(inputs.map((c) => c.readF32(name)));
        deltas = ms.map((m) => m.map((val, j) => val - b0![j]!));
        cuts = await Promise.all(
          deltas.map(async (d) => {
            const cut = await TopKCut.find(async function* () { yield d; }, Math.max(1, Math.floor(DENSITY * d.length)));
            return new Float32Array(new Uint32Array([cut.threshold]).buffer)[0]!;
          }),
        );
      }
      if (cuts.length && deltas.some((d, k) => Math.abs(d[i]!) === cuts[k])) atCut++;
    }
  }
  await Promise.all([x, y, ...inputs].map((c) => c.close()));
  return { identical, total, maxAbs, atCut };
}

/** Read every file under `dir` once, so both tools start from a warm page cache. */
async function warm(d: string): Promise<void> {
  for (const e of await readdir(d, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const fh = await open(path.join(e.parentPath, e.name), "r");
    const buf = Buffer.allocUnsafe(1 << 22);
    while ((await fh.read(buf, 0, buf.length)).bytesRead > 0);
    await fh.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const dir = DIR || (await mkdtemp(path.join(tmpdir(), "sfmed-bench-merge-")));
try {
  const t0 = Date.now();
  let bytes: number;
  if (DIR && existsSync(path.join(DIR, "m2", INDEX_FILE))) {
    bytes = (await Checkpoint.open(path.join(DIR, "m2")).then(async (c) => [c.totalBytes(), await c.close()] as const))[0];
    console.error(`reusing the checkpoints under ${dir}`);
  } else {
    bytes = await writeModels(dir);
    console.error(`wrote 3 checkpoints of ${(bytes / 1e9).toFixed(2)} GB each (${LAYERS} layers) in ${((Date.now() - t0) / 1000).toFixed(1)}s under ${dir}`);
  }
  await warm(dir);
  const haveMergekit = existsSync(MERGEKIT);
  if (!haveMergekit) console.error(`mergekit not found at ${MERGEKIT}: only our side runs`);
  const mkVersion = haveMergekit ? execFileSync(path.join(VENV, "bin", "python"), ["-c", "import importlib.metadata as m, torch; print(m.version('mergekit'), torch.__version__)"], { encoding: "utf8" }).trim() : "";
  const rows: string[] = [];
  const runRows: string[] = [];
  const gbps = (s: number) => (bytes / 1e9 / s).toFixed(3);
  for (const method of METHODS) {
    const isTies = split(method).method === "ties";
    const ours = path.join(dir, `ours-${method}`);
    const theirs = path.join(dir, `mk-${method}`);
    await writeFile(path.join(dir, `${method}.yml`), mergekitYaml(method, dir));
    const runOurs = () => {
      const r = timed(process.execPath, ["--conditions=@sfmed/source", "--import", "tsx", fileURLToPath(import.meta.url), "--child", JSON.stringify(ourOptions(method, dir, ours))], { ...process.env, NODE_NO_WARNINGS: "1" });
      if (!r.ok) throw new Error(`ours ${method} failed: ${r.err}`);
      return r;
    };
    const runTheirs = () => {
      const r = timed(MERGEKIT, [path.join(dir, `${method}.yml`), theirs, "--no-copy-tokenizer", "--no-write-model-card", "--random-seed", "0", "--quiet"]);
      if (!r.ok) console.error(`mergekit ${method} failed: ${r.err}`);
      return r;
    };
    const mine: Run[] = [];
    const peer: Run[] = [];
    let same = "—";
    for (let run = 0; run < RUNS; run++) {
      await rm(ours, { recursive: true, force: true });
      await rm(theirs, { recursive: true, force: true });
      const oursFirst = run % 2 === 0;
      let r1: Run;
      let r2: Run | undefined;
      if (oursFirst) {
        r1 = runOurs();
        if (haveMergekit) r2 = runTheirs();
      } else {
        if (haveMergekit) r2 = runTheirs();
        r1 = runOurs();
      }
      mine.push(r1);
      if (r2?.ok) peer.push(r2);
      const load = (await readFile("/proc/loadavg", "utf8").catch(() => "")).split(" ")[0] ?? "";
      const row = `| ${method} | ${run + 1} | ${oursFirst ? "ours" : "mergekit"} | ${r1.seconds.toFixed(1)} | ${r2?.ok ? r2.seconds.toFixed(1) : "—"} | ${r2?.ok ? (r2.seconds / r1.seconds).toFixed(2) + "×" : "—"} | ${r1.rssMB.toFixed(0)} | ${r2?.ok ? r2.rssMB.toFixed(0) : "—"} | ${load} |`;
      runRows.push(row);
      console.error(row);
      if (run === 0 && r2?.ok) {
        const c = await compare(ours, theirs, isTies ? dir : undefined);
        const pct = ((100 * c.identical) / c.total).toFixed(method.startsWith("dare") ? 1 : 4);
        const diff = c.total - c.identical;
        same = method.startsWith("dare")
          ? `${pct}% (random masks differ)`
          : `${pct}%, max abs diff ${c.maxAbs.toExponential(1)}${isTies ? `; ${c.atCut} of ${diff} differing at a tied magnitude cut` : ""}`;
      }
    }
    const s1 = median(mine.map((r) => r.seconds));
    const m1 = median(mine.map((r) => r.rssMB));
    const s2 = peer.length ? median(peer.map((r) => r.seconds)) : NaN;
    const m2 = peer.length ? median(peer.map((r) => r.rssMB)) : NaN;
    const ratios = peer.length === mine.length ? mine.map((r, i) => peer[i]!.seconds / r.seconds) : [];
    const spread = ratios.length ? ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : "";
    rows.push(
      `| ${method} | ${s1.toFixed(1)} | ${peer.length ? s2.toFixed(1) : "—"} | ${gbps(s1)} | ${peer.length ? gbps(s2) : "—"} | ${peer.length ? (s2 / s1).toFixed(2) + "×" + spread : "—"} | ${m1.toFixed(0)} | ${peer.length ? m2.toFixed(0) : "—"} | ${peer.length ? (m1 / m2).toFixed(2) : "—"} | ${same} |`,
    );
    await rm(ours, { recursive: true, force: true });
    await rm(theirs, { recursive: true, force: true });
  }
  console.log(`\nInput: 3 checkpoints × ${(bytes / 1e9).toFixed(2)} GB bf16 (${LAYERS}-layer Qwen2.5-0.5B shapes, untied lm_head); output bf16. mergekit ${mkVersion} (dtype float32, out_dtype bfloat16), CPU.`);
  console.log(`Throughput = output GB per wall-clock second; peak RSS from /usr/bin/time (MB); ${RUNS} runs per method, order alternating.\n`);
  console.log("| method | run | first | ours s | mergekit s | speed-up | ours RSS | mergekit RSS | load |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const r of runRows) console.log(r);
  console.log("\nMedians (speed-up: ratio of the medians, then the range of the per-run ratios):\n");
  console.log("| method | ours s | mergekit s | ours GB/s | mergekit GB/s | speed-up | ours RSS | mergekit RSS | RSS ratio | identical bf16 |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  if (!args.includes("--keep") && !DIR) await rm(dir, { recursive: true, force: true });
  else console.error(`kept ${dir}`);
}
void REPO;
