import { availableParallelism } from "node:os";
import { existsSync } from "node:fs";
import { copyFile, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { AtomicDir } from "@sfmed/schema/io";
import { Checkpoint, CheckpointWriter } from "./checkpoint.js";
import { DTYPE_BITS, isFloatDtype, type FloatDtype } from "./dtype.js";
import { MergeInputError } from "./errors.js";
import type { TensorSpec } from "./safetensors-writer.js";
import type { RescaleMode } from "./sparsify.js";
import { runMergePool } from "./merge-pool.js";
import { mergeTensor, type MergedChunk, type TensorMergeParams } from "./merge-tensor.js";

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
  /**
   * Rescale of kept entries. DARE: "inverse_keep" (÷density, the DARE paper), "l1" (to the dense L1 norm, what
   * mergekit now does) or "none". TIES: "l1" rescales each trimmed task vector to its dense L1 norm (mergekit's
   * `rescale: true`); any other value leaves it (mergekit's default for ties). @default "inverse_keep"
   */
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
  /**
   * Worker threads that merge tensors in parallel (each tensor whole on one thread, so the output is the same
   * for any count); 1 merges on the calling thread. @default os.availableParallelism()
   */
  threads?: number | undefined;
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
  if (!cond) throw new MergeInputError(message, { code: "BAD_OPTION", field });
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
  const { params, threads, out } = resolveOptions(opts);
  const { models } = opts;
  const refPath = opts.base ?? models[0]!;
  const inputs: Checkpoint[] = [];
  let dir: AtomicDir | undefined;
  let writer: CheckpointWriter | undefined;
  try {
    const { ref, modelCks } = await openInputs(refPath, opts, inputs);
    const specs = outputSpecs(ref, opts.outDtype);
    checkModels(ref, modelCks, models);

    dir = await AtomicDir.create(out);
    writer = await CheckpointWriter.create({ dir: dir.path, tensors: specs, ...(opts.maxShardBytes ? { maxShardBytes: opts.maxShardBytes } : {}) });
    const { copied, bytesDone } = await writeTensors({ opts, params, threads, refPath, ref, modelCks, specs, writer });
    await writer.close();
    writer = undefined;

    const carriedFiles = await carryFiles(refPath, dir.path);
    const { method, weights, density, t, normalize, lambda, rescale, seed } = params;
    const parameters = { method, base: opts.base, models, weights, density, t, normalize, lambda, rescale, seed, outDtype: opts.outDtype };
    const report: MergeReport = {
      method,
      out,
      tensors: specs.length,
      copied,
      bytesWritten: bytesDone,
      carriedFiles,
      seconds: (Date.now() - started) / 1000,
      parameters,
    };
    await writeFile(path.join(dir.path, REPORT_FILE), JSON.stringify(report, null, 2) + "\n");

    if (!opts.overwrite && existsSync(out)) throw new MergeInputError(`${out} appeared during the merge`, { field: "out" });
    await dir.commit();
    return report;
  } catch (e) {
    await writer?.abort();
    await dir?.abort();
    throw e;
  } finally {
    await Promise.all(inputs.map((c) => c.close()));
  }
}

/** Check the options and fill in the defaults. */
function resolveOptions(opts: MergeCheckpointsOptions): { params: TensorMergeParams & { method: MergeMethod }; threads: number; out: string } {
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
  const threads = opts.threads ?? availableParallelism();
  check(Number.isSafeInteger(threads) && threads > 0, "threads", "must be a positive integer");
  const out = path.resolve(opts.out);
  check(opts.overwrite === true || !existsSync(out), "out", `${out} exists (pass overwrite to replace it)`);
  const hasBase = opts.base !== undefined;
  const params = { method, weights, density, t, normalize, lambda, rescale, seed, chunk, hasBase, outDtype: opts.outDtype };
  return { params, threads, out };
}

/** Open the reference and the models (each pushed to `inputs` for closing); without a base, models[0] is the reference, opened once. */
async function openInputs(refPath: string, opts: MergeCheckpointsOptions, inputs: Checkpoint[]): Promise<{ ref: Checkpoint; modelCks: Checkpoint[] }> {
  const ref = await Checkpoint.open(refPath);
  inputs.push(ref);
  const modelCks: Checkpoint[] = [];
  for (const [i, m] of opts.models.entries()) {
    if (opts.base === undefined && i === 0) modelCks.push(ref);
    else {
      const ck = await Checkpoint.open(m);
      inputs.push(ck);
      modelCks.push(ck);
    }
  }
  return { ref, modelCks };
}

/** The output tensors: the reference's, float ones in `outDtype` where given. */
function outputSpecs(ref: Checkpoint, outDtype: FloatDtype | undefined): TensorSpec[] {
  return ref.names().map((name) => {
    const info = ref.info(name);
    const dtype = isFloatDtype(info.dtype) && outDtype ? outDtype : info.dtype;
    return { name, dtype, shape: info.shape };
  });
}

/** Every float tensor of the reference must be in every model, with its shape and a float dtype. */
function checkModels(ref: Checkpoint, modelCks: readonly Checkpoint[], models: readonly string[]): void {
  for (const name of ref.names()) {
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
}

interface TensorJob {
  opts: MergeCheckpointsOptions;
  params: TensorMergeParams;
  threads: number;
  refPath: string;
  ref: Checkpoint;
  modelCks: readonly Checkpoint[];
  specs: readonly TensorSpec[];
  writer: CheckpointWriter;
}

/** Copy the non-float tensors, then merge the float ones (on worker threads when there are several). */
async function writeTensors(job: TensorJob): Promise<{ copied: string[]; bytesDone: number }> {
  const { opts, params, threads, refPath, ref, modelCks, specs, writer: w } = job;
  const bytesTotal = specs.reduce((a, s) => a + byteLen(s), 0);
  let bytesDone = 0;
  const copied: string[] = [];
  const writeChunk = (name: string, start: number, data: MergedChunk) =>
    data instanceof Float32Array ? w.writeF32Range(name, start, data) : w.writeBytesRange(name, start, data);
  let tensorsDone = 0;
  const done = (name: string, outBytes: number) => {
    bytesDone += outBytes;
    tensorsDone++;
    opts.onProgress?.({ tensor: name, tensorsDone, tensorsTotal: specs.length, bytesDone, bytesTotal });
  };
  const floats: string[] = [];
  for (const spec of specs) {
    const name = spec.name;
    if (isFloatDtype(ref.info(name).dtype)) floats.push(name);
    else {
      await w.write(name, await ref.readBytes(name));
      copied.push(name);
      done(name, byteLen(spec));
    }
  }
  const outBytes = new Map(specs.map((s) => [s.name, byteLen(s)]));
  if (threads > 1 && floats.length > 1) {
    await runMergePool({
      data: { refPath, modelPaths: opts.models.map((m, i) => (opts.base === undefined && i === 0 ? undefined : m)), params },
      names: floats,
      numel: (name) => ref.info(name).numel,
      threads,
      write: writeChunk,
      onDone: (name) => done(name, outBytes.get(name)!),
    });
  } else {
    for (const name of floats) {
      await mergeTensor(name, params, ref, modelCks, (start, data) => writeChunk(name, start, data));
      done(name, outBytes.get(name)!);
    }
  }
  return { copied, bytesDone };
}

/** Copy the reference folder's other files (config, tokenizer…) into `dir`; returns their names. */
async function carryFiles(refPath: string, dir: string): Promise<string[]> {
  const carriedFiles: string[] = [];
  const refDir = (await stat(refPath)).isDirectory() ? refPath : path.dirname(refPath);
  for (const entry of await readdir(refDir, { withFileTypes: true })) {
    if (!entry.isFile() || WEIGHT_FILE.test(entry.name) || entry.name === REPORT_FILE) continue;
    await copyFile(path.join(refDir, entry.name), path.join(dir, entry.name));
    carriedFiles.push(entry.name);
  }
  return carriedFiles;
}

function byteLen(s: TensorSpec): number {
  return (s.shape.reduce((a, d) => a * d, 1) * DTYPE_BITS[s.dtype]) / 8;
}
