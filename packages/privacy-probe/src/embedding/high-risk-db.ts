import { PrivacyProbeError } from "../errors.js";
import { ExactCosineIndex } from "./exact-cosine-index.js";
import { readVectorFile, writeVectorFile } from "./vector-file.js";

const KIND = "high-risk-db";

/** How the vectors were made: a database is only meaningful for the same model, layer and pooling. */
export interface HighRiskDbMeta {
  /** Layer whose output was pooled, numbered as serve's `/v1/embeddings` does (0 = token embeddings, L = L-th decoder layer). */
  layer: number;
  pooling: "mean" | "last";
  /** Name of the model that produced the vectors. */
  model: string;
  /** What text of each sample was embedded: its prompt (`prefix`) or prompt + suffix (`full`). */
  embedded: "prefix" | "full";
  createdAt: string;
}

/**
 * High-risk embeddings of memorized samples, each paired with a secure replacement vector of the same width.
 * `entries` holds the high-risk vectors (unit length); `replacements[i]` is the replacement for entry row i, kept at
 * its original scale (it becomes the mean hidden state after gating, so its norm matters).
 */
export interface HighRiskDb {
  meta: HighRiskDbMeta;
  entries: ExactCosineIndex;
  replacements: Float32Array[];
}

/**
 * Check that a database is consistent.
 * @throws {PrivacyProbeError} code `DIM_MISMATCH` for replacements of another width or count
 */
export function checkHighRiskDb(db: HighRiskDb): void {
  if (db.replacements.length !== db.entries.size) {
    throw new PrivacyProbeError(`${db.entries.size} entries but ${db.replacements.length} replacements`, { code: "DIM_MISMATCH", field: "replacements" });
  }
  for (const [i, r] of db.replacements.entries()) {
    if (r.length !== db.entries.dim) throw new PrivacyProbeError(`replacement ${i} has ${r.length} dims, entries have ${db.entries.dim}`, { code: "DIM_MISMATCH", field: `replacements.${i}` });
    if (!r.every(Number.isFinite)) throw new PrivacyProbeError(`replacement ${i} is not finite`, { field: `replacements.${i}` });
  }
}

/** Save a database as one vector file (entries, then replacements), atomically. */
export async function saveHighRiskDb(file: string, db: HighRiskDb): Promise<void> {
  checkHighRiskDb(db);
  const dim = db.entries.dim;
  const repl = new Float32Array(db.replacements.length * dim);
  db.replacements.forEach((r, i) => repl.set(r, i * dim));
  await writeVectorFile(file, { version: 1, kind: KIND, meta: db.meta, ids: db.entries.ids }, [
    { name: "entries", dim, data: db.entries.matrix() },
    { name: "replacements", dim, data: repl },
  ]);
}

/**
 * Load a database saved by {@link saveHighRiskDb}.
 * @throws {PrivacyProbeError} code `BAD_FILE` for a corrupt file or one of another kind
 */
export async function loadHighRiskDb(file: string): Promise<HighRiskDb> {
  const { header, matrices } = await readVectorFile(file, KIND);
  const entries = matrices.get("entries");
  const repl = matrices.get("replacements");
  const ids = header.ids;
  if (!entries || !repl || !Array.isArray(ids) || ids.length * entries.dim !== entries.data.length || repl.data.length !== entries.data.length) {
    throw new PrivacyProbeError("entries, replacements and ids disagree", { code: "BAD_FILE", file });
  }
  const dim = entries.dim;
  return {
    meta: header.meta as HighRiskDbMeta,
    entries: ExactCosineIndex.fromRows(dim, ids as string[], entries.data),
    replacements: ids.map((_, i) => repl.data.slice(i * dim, (i + 1) * dim)),
  };
}
