import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { Checkpoint, CheckpointWriter } from "./checkpoint.js";
import { DTYPE_BITS, isFloatDtype, type FloatDtype } from "./dtype.js";
import { MergeInputError } from "./errors.js";
import { seededRng } from "./seeded-rng.js";
import type { TensorSpec } from "./safetensors-writer.js";
import { slerpApply, slerpCoefficients, slerpSums } from "./slerp.js";
import { bernoulliMask, type RescaleMode } from "./sparsify.js";
import { TopKCut } from "./streaming-top-k.js";
import { deltaScale, linearMerge, mixChunk, type DeltaScale } from "./task-arithmetic.js";

export const MERGE_METHODS = ["task_arithmetic", "ties", "dare_ties", "dare_linear", "linear", "slerp"] as const;
export type MergeMethod = (typeof MERGE_METHODS)[number];

export interface MergeProgress {
  tensor: string;
  tensorsDone: number;
  tensorsTotal: number;
  /** Output bytes written so far. */
  bytesDone: number;
  bytesTotal: number;
}

export interface MergeCheckpointsOptions {
  method: MergeMethod;
  /** Base model folder: required except for `linear`; for `slerp` it is the t = 0 end. */
  base?: string | undefined;
  /** Models to merge (exactly one for `slerp`). */
  models: string[];
  /** One weight per model. @default 1 each */
  weights?: number[] | undefined;
  /** Kept fraction (ties: by magnitude; dare_*: Bernoulli keep-probability). @default 1 */
  density?: number | undefined;
  /** SLERP interpolation factor. @default 0.5 */
  t?: number | undefined;
  /** Divide by the (agreeing) weight sum. @default true for ties and linear, false otherwise (mergekit's defaults) */
  normalize?: boolean | undefined;
  /** Scale of the mixed task vector. @default 1 */
  lambda?: number | undefined;
  /** DARE rescale of kept entries. @default "inverse_keep" (÷density, the DARE paper; mergekit now uses "l1") */
  rescale?: RescaleMode | undefined;
  /** Seed of the DARE masks (each tensor's stream depends only on seed, tensor name and model index). @default 0 */
  seed?: number | undefined;
  /** Output folder; written under a temporary sibling and renamed into place at the end. */
  out: string;
  /** Output float dtype. @default the reference tensor's own dtype */
  outDtype?: FloatDtype | undefined;
  /** @default 5_000_000_000 */
  maxShardBytes?: number | undefined;
  /** Elements per chunk: memory holds a few chunks per input, never whole tensors. @default 1_048_576 */
  chunkElements?: number | undefined;
  /** Replace an existing output folder. @default false */
  overwrite?: boolean | undefined;
  onProgress?: ((p: MergeProgress) => void) | undefined;
}

export interface MergeReport {
  method: MergeMethod;
  out: string;
  tensors: number;
  /** Tensors copied unchanged from the reference (non-float dtypes). */
  copied: string[];
  bytesWritten: number;
  /** Files carried over from the reference folder (config, tokenizer…). */
  carriedFiles: string[];
  seconds: number;
  parameters: Record<string, unknown>;
}

/** Weight files never carried over from the base folder. */
const WEIGHT_FILE = /\.(safetensors|bin|pt|pth|ckpt|gguf|h5|msgpack)$|\.index\.json$/;
const REPORT_FILE = "sfmed-merge.json";

function check(cond: boolean, field: string, message: string): asserts cond {
  if (!cond) throw new MergeInputError(message, { field });
}

/**
 * Merge checkpoints tensor by tensor with bounded memory. Every float tensor is streamed in chunks of
 * `chunkElements`: per chunk, base and model slices are read with positioned reads (the next chunk's reads
 * start before the current one is merged), merged in float32, rounded to the output dtype, and written at its
 * offset. TIES finds each task vector's magnitude cut with an exact two-pass radix select ({@link TopKCut});
 * SLERP gathers norms and the dot product in a first pass. Non-float tensors are copied from the reference.
 * Config and tokenizer files come from the base folder (or the first model for `linear` without a base).
 * @throws {MergeInputError} for bad options, missing tensors or shape mismatches; {@link SafetensorsError} for
 * malformed inputs. Nothing appears at `out` unless the merge completes.
 */
export async function mergeCheckpoints(opts: MergeCheckpointsOptions): Promise<MergeReport> {
  const started = Date.now();
  const { method, models } = opts;
  check((MERGE_METHODS as readonly string[]).includes(method), "method", `must be one of ${MERGE_METHODS.join(", ")}`);
  check(models.length > 0, "models", "at least one model is needed");
  check(method === "linear" || opts.base !== undefined, "base", `${method} needs a base model`);
  check(method !== "slerp" || models.length === 1, "models", "slerp merges the base with exactly one model");
  const weights = opts.weights ?? models.map(() => 1);
  check(weights.length === models.length && weights.every(Number.isFinite), "weights", `${weights.length} weights for ${models.length} models`);
  const density = opts.density ?? 1;
  check(density >= 0 && density <= 1, "density", `must be in [0, 1], got ${density}`);
  const t = opts.t ?? 0.5;
  check(Number.isFinite(t), "t", "must be a number");
  const chunk = opts.chunkElements ?? 1 << 20;
  check(Number.isSafeInteger(chunk) && chunk > 0, "chunkElements", "must be a positive integer");
  const seed = opts.seed ?? 0;
  const normalize = opts.normalize ?? (method === "ties" || method === "linear");
  const lambda = opts.lambda ?? 1;
  const rescale = opts.rescale ?? "inverse_keep";
  const out = path.resolve(opts.out);
  check(opts.overwrite === true || !existsSync(out), "out", `${out} exists (pass overwrite to replace it)`);

  const refPath = opts.base ?? models[0]!;
  const inputs: Checkpoint[] = [];
  const tmp = `${out}.partial-${process.pid}-${randomBytes(4).toString("hex")}`;
  let writer: CheckpointWriter | undefined;
  try {
    const ref = await Checkpoint.open(refPath);
    inputs.push(ref);
    // For linear without a base the reference is models[0] itself; open it once.
    const modelCks: Checkpoint[] = [];
    for (const [i, m] of models.entries()) {
      if (opts.base === undefined && i === 0) modelCks.push(ref);
      else {
        const ck = await Checkpoint.open(m);
        inputs.push(ck);
        modelCks.push(ck);
      }
    }
    const names = ref.names();
    const specs: TensorSpec[] = names.map((name) => {
      const info = ref.info(name);
      const dtype = isFloatDtype(info.dtype) && opts.outDtype ? opts.outDtype : info.dtype;
      return { name, dtype, shape: info.shape };
    });
    for (const name of names) {
      const info = ref.info(name);
      if (!isFloatDtype(info.dtype)) continue;
      modelCks.forEach((ck, i) => {
        if (!ck.has(name)) throw new MergeInputError(`tensor is missing from ${models[i]}`, { field: name });
        const s = ck.info(name).shape;
        if (s.join(",") !== info.shape.join(",")) {
          throw new MergeInputError(`shape [${s}] in ${models[i]} differs from [${info.shape}]`, { field: name });
        }
        if (!isFloatDtype(ck.info(name).dtype)) throw new MergeInputError(`dtype ${ck.info(name).dtype} in ${models[i]} is not a float`, { field: name });
      });
    }

    await mkdir(tmp, { recursive: true });
    writer = await CheckpointWriter.create({ dir: tmp, tensors: specs, ...(opts.maxShardBytes ? { maxShardBytes: opts.maxShardBytes } : {}) });
    const w = writer;
    const bytesTotal = specs.reduce((a, s) => a + byteLen(s), 0);
    let bytesDone = 0;
    const copied: string[] = [];

    for (const [ti, name] of names.entries()) {
      const info = ref.info(name);
      const outBytes = byteLen(specs[ti]!);
      if (!isFloatDtype(info.dtype)) {
        await w.write(name, await ref.readBytes(name));
        copied.push(name);
      } else {
        const n = info.numel;
        const baseCk = opts.base === undefined ? undefined : ref;
        const read = (ck: Checkpoint, start: number) => ck.readF32Range(name, start, Math.min(chunk, n - start));
        async function* deltas(i: number): AsyncIterable<Float32Array> {
          for (let s = 0; s < n; s += chunk) {
            const [b, m] = await Promise.all([read(baseCk!, s), read(modelCks[i]!, s)]);
            for (let j = 0; j < m.length; j++) m[j] = m[j]! - b[j]!;
            yield m;
          }
        }

        // Per-model mask makers and scales for the task-arithmetic family.
        const maskers: Array<((len: number, delta: () => Float32Array) => Uint8Array) | undefined> = [];
        const scales: DeltaScale[] = [];
        let slerpCoef: [number, number] = [1 - t, t];
        const dareLike = method === "dare_ties" || method === "dare_linear";
        if ((method === "ties" || dareLike) && density < 1) {
          for (let i = 0; i < models.length; i++) {
            if (method === "ties") {
              const k = density <= 0 || n === 0 ? 0 : Math.max(1, Math.floor(density * n));
              const cut = k > 0 ? await TopKCut.find(() => deltas(i), k) : undefined;
              maskers.push((len, delta) => (cut ? cut.mask(delta()) : new Uint8Array(len)));
              scales.push(undefined);
            } else {
              const rng = seededRng(seed, name, i);
              maskers.push((len) => bernoulliMask({ length: len, p: density, rng }));
              if (rescale === "l1") {
                // First pass with a twin stream: the dense and kept L1 norms.
                const twin = seededRng(seed, name, i);
                let before = 0;
                let after = 0;
                for await (const d of deltas(i)) {
                  const m = bernoulliMask({ length: d.length, p: density, rng: twin });
                  for (let j = 0; j < d.length; j++) {
                    const a = Math.abs(d[j]!);
                    before += a;
                    if (m[j]) after += a;
                  }
                }
                scales.push(deltaScale("l1", density, undefined, undefined, { before, after }));
              } else scales.push(deltaScale(rescale, density));
            }
          }
        }
        if (method === "slerp") {
          const acc = { sumAA: 0, sumBB: 0, sumAB: 0 };
          for (let s = 0; s < n; s += chunk) {
            const [a, b] = await Promise.all([read(ref, s), read(modelCks[0]!, s)]);
            slerpSums(a, b, acc);
          }
          slerpCoef = slerpCoefficients({ ...acc, t });
        }

        const readSet = (s: number) =>
          Promise.all([baseCk ? read(baseCk, s) : Promise.resolve(undefined), ...modelCks.map((ck) => read(ck, s))]);
        let next = n > 0 ? readSet(0) : undefined;
        let pendingWrite: Promise<void> = Promise.resolve();
        if (n === 0) await w.writeF32Range(name, 0, new Float32Array(0));
        for (let s = 0; s < n; s += chunk) {
          const [b, ...ms] = await next!;
          next = s + chunk < n ? readSet(s + chunk) : undefined;
          let merged: Float32Array;
          if (method === "linear") merged = linearMerge({ tensors: ms, weights, normalize });
          else if (method === "slerp") merged = slerpApply(b!, ms[0]!, slerpCoef);
          else {
            const masks = maskers.map((mk, i) =>
              mk?.(b!.length, () => {
                const d = new Float32Array(b!.length);
                const m = ms[i]!;
                for (let j = 0; j < d.length; j++) d[j] = m[j]! - b![j]!;
                return d;
              }),
            );
            merged = mixChunk({
              base: b!,
              models: ms,
              weights,
              masks,
              scales,
              consensus: method === "ties" || method === "dare_ties" ? "sum" : "none",
              normalize,
              lambda,
            });
          }
          await pendingWrite;
          pendingWrite = w.writeF32Range(name, s, merged);
        }
        await pendingWrite;
      }
      bytesDone += outBytes;
      opts.onProgress?.({ tensor: name, tensorsDone: ti + 1, tensorsTotal: names.length, bytesDone, bytesTotal });
    }
    await w.close();
    writer = undefined;

    const carriedFiles: string[] = [];
    const refDir = (await stat(refPath)).isDirectory() ? refPath : path.dirname(refPath);
    for (const entry of await readdir(refDir, { withFileTypes: true })) {
      if (!entry.isFile() || WEIGHT_FILE.test(entry.name) || entry.name === REPORT_FILE) continue;
      await copyFile(path.join(refDir, entry.name), path.join(tmp, entry.name));
      carriedFiles.push(entry.name);
    }
    const parameters = { method, base: opts.base, models, weights, density, t, normalize, lambda, rescale, seed, outDtype: opts.outDtype };
    const report: MergeReport = {
      method,
      out,
      tensors: names.length,
      copied,
      bytesWritten: bytesDone,
      carriedFiles,
      seconds: (Date.now() - started) / 1000,
      parameters,
    };
    await writeFile(path.join(tmp, REPORT_FILE), JSON.stringify(report, null, 2) + "\n");

    if (existsSync(out)) {
      if (!opts.overwrite) throw new MergeInputError(`${out} appeared during the merge`, { field: "out" });
      const old = `${out}.old-${process.pid}-${randomBytes(4).toString("hex")}`;
      await rename(out, old);
      await rename(tmp, out);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, out);
    }
    return report;
  } catch (e) {
    await writer?.abort();
    await rm(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    await Promise.all(inputs.map((c) => c.close()));
  }
}

function byteLen(s: TensorSpec): number {
  return (s.shape.reduce((a, d) => a * d, 1) * DTYPE_BITS[s.dtype]) / 8;
}
