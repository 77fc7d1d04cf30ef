import type { EmbeddingModel } from "@sfmed/llm";
import { PrivacyProbeError } from "../errors.js";
import { ExactCosineIndex } from "./exact-cosine-index.js";
import type { HighRiskDb } from "./high-risk-db.js";

/** A memorized sample to protect (a `ProbeResult` fits). */
export interface HighRiskSample {
  id: string;
  prefix: string;
  suffix?: string;
}

/**
 * Where the secure replacement vectors come from.
 * - `{ vectors }`: given by the user, one per sample (same order) or a single one used for every sample;
 * - `{ safeResponses }`: texts embedded at the same layer and pooling: one per sample (array in sample order, or a
 *   record keyed by sample id) or a single text used for every sample.
 */
export type ReplacementSource = { vectors: Float32Array[] } | { safeResponses: string[] | Record<string, string> };

export interface BuildHighRiskDbOptions {
  model: EmbeddingModel;
  samples: readonly HighRiskSample[];
  /** Layer to read, numbered as serve's `/v1/embeddings` does (0 = token embeddings, L = output of the L-th decoder layer). */
  layer: number;
  /** @default "mean" (what trainer-py serve's gate pools) */
  pooling?: "mean" | "last";
  /**
   * Text embedded per sample. `prefix` is what serve sees when a user sends that prompt, so the gate fires on it.
   * @default "prefix"
   */
  embed?: "prefix" | "full";
  replacements: ReplacementSource;
  /** Texts per embedding request. @default 16 */
  batchSize?: number;
  onProgress?: (p: { embedded: number; total: number }) => void;
  signal?: AbortSignal;
}

async function embedAll(
  model: EmbeddingModel,
  texts: string[],
  opts: { layer: number; pooling: "mean" | "last"; batchSize: number; signal?: AbortSignal | undefined },
  progress: (n: number) => void,
): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += opts.batchSize) {
    const batch = texts.slice(i, i + opts.batchSize);
    const vecs = await model.embed(batch, { layer: opts.layer, pooling: opts.pooling, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (vecs.length !== batch.length) throw new PrivacyProbeError(`embedding model returned ${vecs.length} vectors for ${batch.length} texts`, { code: "MODEL_ERROR" });
    out.push(...vecs);
    progress(out.length);
  }
  return out;
}

/**
 * Build the high-risk database: embed each memorized sample at `layer` with `pooling`, store the vectors in an exact
 * cosine index, and pair each with its secure replacement vector.
 * @throws {PrivacyProbeError} code `DIM_MISMATCH` when vectors disagree in width; `BAD_INPUT` for duplicate ids, no
 * samples, or replacement lists of the wrong length; `MODEL_ERROR` when the model returns too few vectors
 */
export async function buildHighRiskDb(opts: BuildHighRiskDbOptions): Promise<HighRiskDb> {
  const pooling = opts.pooling ?? "mean";
  const embedWhat = opts.embed ?? "prefix";
  const batchSize = Math.max(1, opts.batchSize ?? 16);
  const n = opts.samples.length;
  if (n === 0) throw new PrivacyProbeError("no samples to build a high-risk database from", { field: "samples" });
  const r = opts.replacements;
  const safeTexts: string[] | undefined =
    "safeResponses" in r
      ? Array.isArray(r.safeResponses)
        ? r.safeResponses
        : opts.samples.map((s) => {
            const t = (r.safeResponses as Record<string, string>)[s.id];
            if (t === undefined) throw new PrivacyProbeError(`no safe response for sample "${s.id}"`, { field: `safeResponses.${s.id}` });
            return t;
          })
      : undefined;
  const count = safeTexts?.length ?? ("vectors" in r ? r.vectors.length : 0);
  if (count !== 1 && count !== n) throw new PrivacyProbeError(`need 1 or ${n} replacements, got ${count}`, { field: "replacements" });
  const total = n + (safeTexts?.length ?? 0);
  const texts = opts.samples.map((s) => (embedWhat === "full" ? s.prefix + (s.suffix ?? "") : s.prefix));
  const common = { layer: opts.layer, pooling, batchSize, signal: opts.signal };
  const vectors = await embedAll(opts.model, texts, common, (k) => opts.onProgress?.({ embedded: k, total }));
  const repl = safeTexts ? await embedAll(opts.model, safeTexts, common, (k) => opts.onProgress?.({ embedded: n + k, total })) : (r as { vectors: Float32Array[] }).vectors;
  const dim = vectors[0]!.length;
  const entries = new ExactCosineIndex(dim, n);
  opts.samples.forEach((s, i) => entries.add(s.id, vectors[i]!));
  const replacements = opts.samples.map((_, i) => Float32Array.from(repl[repl.length === 1 ? 0 : i]!));
  for (const [i, v] of replacements.entries()) {
    if (v.length !== dim) throw new PrivacyProbeError(`replacement ${i} has ${v.length} dims, embeddings have ${dim}`, { code: "DIM_MISMATCH", field: `replacements.${i}` });
  }
  return {
    meta: { layer: opts.layer, pooling, model: opts.model.name, embedded: embedWhat, createdAt: new Date().toISOString() },
    entries,
    replacements,
  };
}
