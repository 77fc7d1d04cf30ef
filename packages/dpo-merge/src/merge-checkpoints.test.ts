import { existsSync, writeFileSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { Checkpoint, CheckpointWriter } from "./checkpoint.js";
import { bf16ToF32, f32ToBf16 } from "./dtype.js";
import { mergeCheckpoints, type MergeMethod, type MergeProgress } from "./merge-checkpoints.js";
import { seededRng } from "./seeded-rng.js";
import { slerp } from "./slerp.js";
import { linearMerge, mergeTaskVectors } from "./task-arithmetic.js";

const SHAPES: Record<string, number[]> = { "embed.weight": [13, 6], "layers.0.q.weight": [6, 6], "layers.0.q.bias": [6], "norm.weight": [6] };

/** A bf16 checkpoint with random-looking values, an int64 buffer and config/tokenizer files. */
async function makeModel(dir: string, seed: number, opts: { maxShardBytes?: number; shapes?: Record<string, number[]> } = {}) {
  await mkdir(dir, { recursive: true });
  const shapes = opts.shapes ?? SHAPES;
  const rng = seededRng(seed, "values");
  const values: Record<string, Float32Array> = {};
  const specs = [
    ...Object.entries(shapes).map(([name, shape]) => ({ name, dtype: "BF16" as const, shape })),
    { name: "position_ids", dtype: "I64" as const, shape: [4] },
  ];
  const w = await CheckpointWriter.create({ dir, tensors: specs, ...(opts.maxShardBytes ? { maxShardBytes: opts.maxShardBytes } : {}) });
  for (const [name, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, d) => a * d, 1);
    // bf16-exact values, with repeats so magnitude ties occur.
    const v = bf16ToF32(f32ToBf16(Float32Array.from({ length: n }, () => Math.round((rng() - 0.5) * 64) / 16)));
    values[name] = v;
    await w.write(name, v);
  }
  await w.write("position_ids", new BigInt64Array([0n, 1n, 2n, 3n]));
  await w.close();
  await writeFile(path.join(dir, "config.json"), JSON.stringify({ model_type: "qwen2", seed }));
  await writeFile(path.join(dir, "tokenizer.json"), "{}");
  return values;
}

const toBf16 = (x: Float32Array) => bf16ToF32(f32ToBf16(x));

async function readAll(dir: string): Promise<Record<string, Float32Array>> {
  const ck = await Checkpoint.open(dir);
  const out: Record<string, Float32Array> = {};
  for (const name of ck.names()) if (name !== "position_ids") out[name] = await ck.readF32(name);
  await ck.close();
  return out;
}

describe("mergeCheckpoints", () => {
  const cases: Array<{ method: MergeMethod; density?: number; weights: number[]; rescale?: "l1" }> = [
    { method: "task_arithmetic", weights: [0.5, 0.75] },
    { method: "ties", density: 0.4, weights: [1, 0.5] },
    { method: "ties", density: 0.4, weights: [1, 0.5], rescale: "l1" },
    { method: "dare_ties", density: 0.5, weights: [0.7, 0.3], rescale: "l1" },
    { method: "dare_ties", density: 0.5, weights: [0.7, 0.3] },
    { method: "dare_linear", density: 0.3, weights: [0.5, 0.5] },
    { method: "linear", weights: [1, 3] },
  ];

  for (const c of cases) {
    it(`${c.method}${c.rescale ? ` (rescale ${c.rescale})` : ""} streamed in small chunks equals the in-memory operator, rounded to bf16`, async () => {
      const dir = await tempDir();
      const base = await makeModel(path.join(dir, "base"), 1, { maxShardBytes: 200 });
      const m1 = await makeModel(path.join(dir, "m1"), 2);
      const m2 = await makeModel(path.join(dir, "m2"), 3);
      const out = path.join(dir, "out");
      const progress: MergeProgress[] = [];
      const report = await mergeCheckpoints({
        method: c.method,
        base: path.join(dir, "base"),
        models: [path.join(dir, "m1"), path.join(dir, "m2")],
        weights: c.weights,
        density: c.density,
        ...(c.rescale ? { rescale: c.rescale } : {}),
        seed: 42,
        out,
        chunkElements: 7,
        onProgress: (p) => progress.push(p),
      });
      const got = await readAll(out);
      for (const name of Object.keys(SHAPES)) {
        const models = [m1[name]!, m2[name]!];
        let want: Float32Array;
        if (c.method === "linear") want = linearMerge({ tensors: models, weights: c.weights });
        else {
          want = mergeTaskVectors({
            base: base[name]!,
            models,
            weights: c.weights,
            consensus: c.method === "ties" || c.method === "dare_ties" ? "sum" : "none",
            normalize: c.method === "ties",
            sparsify:
              c.method === "ties"
                ? { method: "magnitude", density: c.density!, ...(c.rescale ? { rescale: c.rescale } : {}) }
                : c.method.startsWith("dare")
                  ? { method: "bernoulli", density: c.density!, rng: (i) => seededRng(42, name, i), ...(c.rescale ? { rescale: c.rescale } : {}) }
                  : { method: "none" },
          });
        }
        expect([...got[name]!], name).toEqual([...toBf16(want)]);
      }
      expect(report.tensors).toBe(5);
      expect(report.copied).toEqual(["position_ids"]);
      expect(report.carriedFiles.sort()).toEqual(["config.json", "tokenizer.json"]);
      expect(JSON.parse(await readFile(path.join(out, "config.json"), "utf8")).seed).toBe(1);
      expect(progress.map((p) => p.tensorsDone)).toEqual([1, 2, 3, 4, 5]);
      expect(progress.at(-1)!.bytesDone).toBe(progress.at(-1)!.bytesTotal);
      const ck = await Checkpoint.open(out);
      expect([...new BigInt64Array((await ck.readBytes("position_ids")).buffer)]).toEqual([0n, 1n, 2n, 3n]);
      await ck.close();
    });
  }

  it("slerp streams the norms first and matches the whole-tensor slerp", async () => {
    const dir = await tempDir();
    const base = await makeModel(path.join(dir, "base"), 5);
    const m = await makeModel(path.join(dir, "m"), 6);
    await mergeCheckpoints({ method: "slerp", base: path.join(dir, "base"), models: [path.join(dir, "m")], t: 0.3, out: path.join(dir, "o"), chunkElements: 5 });
    const got = await readAll(path.join(dir, "o"));
    for (const name of Object.keys(SHAPES)) expect([...got[name]!]).toEqual([...toBf16(slerp({ a: base[name]!, b: m[name]!, t: 0.3 }))]);
  });

  it("does not depend on the chunk size, and is deterministic per seed", async () => {
    const dir = await tempDir();
    await makeModel(path.join(dir, "base"), 1);
    await makeModel(path.join(dir, "m1"), 2);
    const run = async (out: string, chunkElements: number, seed: number) => {
      await mergeCheckpoints({ method: "dare_ties", base: path.join(dir, "base"), models: [path.join(dir, "m1")], density: 0.5, seed, out: path.join(dir, out), chunkElements });
      return readAll(path.join(dir, out));
    };
    const a = await run("a", 3, 1);
    expect(await run("b", 1000, 1)).toEqual(a);
    expect(await run("c", 3, 2)).not.toEqual(a);
  });

  it("writes the same bytes on worker threads as on the calling thread, for every method", async () => {
    const dir = await tempDir();
    await makeModel(path.join(dir, "base"), 1);
    await makeModel(path.join(dir, "m1"), 2);
    await makeModel(path.join(dir, "m2"), 3);
    const methods: MergeMethod[] = ["linear", "task_arithmetic", "ties", "dare_ties", "dare_linear", "slerp"];
    for (const method of methods) {
      const models = method === "slerp" ? [path.join(dir, "m1")] : [path.join(dir, "m1"), path.join(dir, "m2")];
      const bytes: Buffer[] = [];
      for (const threads of [1, 3]) {
        const out = path.join(dir, `${method}-${threads}`);
        const progress: MergeProgress[] = [];
        await mergeCheckpoints({ method, base: path.join(dir, "base"), models, weights: models.map((_, i) => 0.6 - 0.2 * i), density: 0.5,
          rescale: method === "dare_linear" ? "l1" : undefined, t: 0.3, seed: 4, threads, chunkElements: 7, out, onProgress: (p) => progress.push(p) });
        expect(progress.map((p) => p.tensorsDone)).toEqual([1, 2, 3, 4, 5]);
        expect(new Set(progress.map((p) => p.tensor)).size).toBe(5);
        bytes.push(await readFile(path.join(out, "model.safetensors")));
      }
      expect(bytes[1]!.equals(bytes[0]!), method).toBe(true);
    }
  });

  it("passes a worker's typed error on and leaves nothing behind", async () => {
    const dir = await tempDir();
    await makeModel(path.join(dir, "base"), 1);
    await makeModel(path.join(dir, "m1"), 2);
    const file = path.join(dir, "m1", "model.safetensors");
    const whole = await readFile(file);
    // The non-float tensor is copied (and reported) before the workers open their inputs: cut the file then.
    const onProgress = (p: MergeProgress) => {
      if (p.tensor === "position_ids") writeFileSync(file, whole.subarray(0, whole.length - 8));
    };
    await expect(
      mergeCheckpoints({ method: "task_arithmetic", base: path.join(dir, "base"), models: [path.join(dir, "m1")], threads: 2, out: path.join(dir, "o"), onProgress }),
    ).rejects.toThrow(expect.objectContaining({ name: "SafetensorsError", file }));
    expect((await readdir(dir)).sort()).toEqual(["base", "m1"]);
  });

  it("writes f32 when asked, shards the output, and replaces only with overwrite", async () => {
    const dir = await tempDir();
    await makeModel(path.join(dir, "base"), 1);
    await makeModel(path.join(dir, "m1"), 2);
    const args = { method: "task_arithmetic" as const, base: path.join(dir, "base"), models: [path.join(dir, "m1")], out: path.join(dir, "o") };
    await mergeCheckpoints({ ...args, outDtype: "F32", maxShardBytes: 300 });
    const files = await readdir(path.join(dir, "o"));
    expect(files).toContain("model.safetensors.index.json");
    const ck = await Checkpoint.open(path.join(dir, "o"));
    expect(ck.info("embed.weight").dtype).toBe("F32");
    expect(ck.info("position_ids").dtype).toBe("I64");
    await ck.close();
    await expect(mergeCheckpoints(args)).rejects.toThrow(expect.objectContaining({ name: "MergeInputError", code: "BAD_OPTION", field: "out" }));
    await mergeCheckpoints({ ...args, overwrite: true });
    expect(await readdir(path.join(dir, "o"))).not.toContain("model.safetensors.index.json");
    expect((await readdir(dir)).sort()).toEqual(["base", "m1", "o"]);
  });

  it("fails on a shape mismatch without leaving anything behind", async () => {
    const dir = await tempDir();
    await makeModel(path.join(dir, "base"), 1);
    await makeModel(path.join(dir, "bad"), 2, { shapes: { ...SHAPES, "norm.weight": [7] } });
    await expect(
      mergeCheckpoints({ method: "ties", base: path.join(dir, "base"), models: [path.join(dir, "bad")], density: 0.5, out: path.join(dir, "o") }),
    ).rejects.toThrow(expect.objectContaining({ name: "MergeInputError", code: "INPUT_MISMATCH", field: "norm.weight" }));
    expect((await readdir(dir)).sort()).toEqual(["bad", "base"]);
    expect(existsSync(path.join(dir, "o"))).toBe(false);
  });

  it("validates options", async () => {
    const base = { out: "/nonexistent/out", models: ["x"] };
    await expect(mergeCheckpoints({ ...base, method: "ties" })).rejects.toThrow(expect.objectContaining({ field: "base" }));
    await expect(mergeCheckpoints({ ...base, method: "slerp", base: "b", models: ["x", "y"] })).rejects.toThrow(expect.objectContaining({ field: "models" }));
    await expect(mergeCheckpoints({ ...base, method: "linear", weights: [1, 2] })).rejects.toThrow(expect.objectContaining({ field: "weights" }));
    await expect(mergeCheckpoints({ ...base, method: "dare_linear", base: "b", density: 2 })).rejects.toThrow(expect.objectContaining({ field: "density" }));
    await expect(mergeCheckpoints({ ...base, method: "nope" as MergeMethod })).rejects.toThrow(expect.objectContaining({ field: "method" }));
  });
});
