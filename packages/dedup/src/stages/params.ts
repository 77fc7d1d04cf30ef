import { availableParallelism } from "node:os";
import type { DedupOptions, VerifyMode } from "../dedup-options.js";
import { DedupError } from "../errors.js";
import type { KeepPolicy } from "../keep-policy.js";
import { lshParams } from "../lsh-params.js";
import { hashSchemeOf, type Sketch } from "../minhasher.js";
import { NORMALIZATION } from "../normalize-text.js";

/** Every knob of a run, defaulted and checked. */
export interface DedupParams {
  threshold: number;
  numPerm: number;
  ngram: number;
  seed: number;
  sketch: Sketch;
  /** The sketch's hash-scheme tag, as reports and indexes record it. */
  hashScheme: string;
  bands: number;
  rows: number;
  /** Probability that a pair at exactly the threshold becomes a candidate. */
  recallAtThreshold: number;
  verify: VerifyMode;
  keep: KeepPolicy;
  perSource: boolean;
  giantLimit: number;
  batchSize: number;
  /** Signature threads asked for (0 with a custom normaliser, which only runs on the calling thread). */
  threads: number;
  /** `custom` or the built-in normalisation's version, as written to reports and indexes. */
  normalization: string;
  /** Record ids are collected (a comparator sees them; a saved index stores them). */
  needIds: boolean;
  /** Text lengths are collected (every policy but `first` may look at them). */
  needLengths: boolean;
}

const bad = (message: string, field: string) => new DedupError(message, { code: "BAD_OPTION", field });

/**
 * The options of a run with defaults filled in, banding chosen by {@link lshParams} unless given.
 * @throws DedupError (`BAD_OPTION`) naming the option.
 */
export function resolveParams(options: DedupOptions<never>, customNormalize: boolean): DedupParams {
  const threshold = options.threshold ?? 0.8;
  const numPerm = options.numPerm ?? 128;
  const ngram = options.ngram ?? 5;
  const verify: VerifyMode = options.verify ?? "exact";
  const keep: KeepPolicy = options.keep ?? "first";
  const sketch: Sketch = options.sketch ?? "oph";
  if (!(threshold > 0 && threshold <= 1)) throw bad(`threshold must be in (0, 1], got ${threshold}`, "threshold");
  if (!Number.isInteger(numPerm) || numPerm < 1) throw bad(`numPerm must be a positive integer, got ${numPerm}`, "numPerm");
  if (!Number.isInteger(ngram) || ngram < 1) throw bad(`ngram must be a positive integer, got ${ngram}`, "ngram");
  if (!["exact", "estimate", "none"].includes(verify)) throw bad(`verify must be exact, estimate or none, got ${verify}`, "verify");
  if (sketch !== "oph" && sketch !== "minhash") throw bad(`sketch must be oph or minhash, got ${String(sketch)}`, "sketch");
  if (typeof keep !== "function" && keep !== "first" && keep !== "longest") throw bad(`keep must be first, longest or a comparator, got ${String(keep)}`, "keep");
  let banding: { bands: number; rows: number; recallAtThreshold: number };
  if (options.bands !== undefined || options.rows !== undefined) {
    const bands = options.bands ?? 0;
    const rows = options.rows ?? 0;
    if (!(Number.isInteger(bands) && Number.isInteger(rows) && bands > 0 && rows > 0 && bands * rows <= numPerm)) {
      throw bad(`bands × rows must be positive and at most numPerm (${numPerm}), got ${bands}×${rows}`, "bands");
    }
    banding = { bands, rows, recallAtThreshold: 1 - Math.pow(1 - Math.pow(threshold, rows), bands) };
  } else {
    const { bands, rows, recallAtThreshold } = lshParams({ threshold, numPerm });
    banding = { bands, rows, recallAtThreshold };
  }
  return {
    threshold,
    numPerm,
    ngram,
    seed: options.seed ?? 1,
    sketch,
    hashScheme: hashSchemeOf(sketch),
    ...banding,
    verify,
    keep,
    perSource: options.perSource ?? false,
    giantLimit: options.giantClusterSize ?? 1000,
    batchSize: options.batchSize ?? 1024,
    threads: customNormalize ? 0 : Math.max(0, Math.floor(options.threads ?? availableParallelism())),
    normalization: options.normalize ? "custom" : NORMALIZATION,
    needIds: typeof keep === "function" || options.saveIndex !== undefined,
    needLengths: keep !== "first",
  };
}
