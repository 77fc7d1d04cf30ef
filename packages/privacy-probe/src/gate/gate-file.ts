import { readFile } from "node:fs/promises";
import { atomicWrite } from "@sfmed/schema";
import { PrivacyProbeError } from "../errors.js";
import type { HighRiskDb } from "../embedding/high-risk-db.js";

/**
 * The embedding-gate file trainer-py serve loads (`python -m sfmed_trainer serve CKPT --gate gate.json`). Agreed
 * semantics (serve implements them in `sfmed_trainer/gate.py`; {@link applyGate} is the same computation in
 * TypeScript for one forward pass):
 *
 * 1. serve hooks the output of layer `layer`, numbered as `/v1/embeddings` numbers them: 0 = token embeddings,
 *    L ≥ 1 = output of the L-th decoder layer (L = number of layers: the last one, before the final norm);
 * 2. it mean-pools the *unmodified* hidden states over every position of the sequence so far: μ = mean_t(h_t)
 *    (for a prompt this is exactly `/v1/embeddings` with that layer and `pooling: "mean"`; during cached generation
 *    the running mean also counts earlier positions, and the decision is made again on every forward call);
 * 3. it computes the cosine similarity of μ with every row of `entries`;
 * 4. if the maximum, for entry i, is strictly greater than `threshold`, every position of the current forward is
 *    shifted so the mean becomes the secure replacement: h_t ← h_t − μ + replacements[i]; otherwise nothing changes.
 *
 * `entries` are unit length (cosine does not depend on scale); `replacements` keep their scale, since they become
 * the new mean hidden state. Both have `dim` columns (the model's hidden size), one replacement per entry.
 */
export interface GateFile {
  version: 1;
  layer: number;
  threshold: number;
  dim: number;
  entries: number[][];
  replacements: number[][];
}

export interface GateFileOptions {
  /** Cosine similarity above which the gate fires. @default 0.8 */
  threshold?: number;
}

/** Build the gate file content from a high-risk database. */
export function gateFileFromDb(db: HighRiskDb, opts: GateFileOptions = {}): GateFile {
  const threshold = opts.threshold ?? 0.8;
  const dim = db.entries.dim;
  return {
    version: 1,
    layer: db.meta.layer,
    threshold,
    dim,
    entries: db.entries.ids.map((_, r) => Array.from(db.entries.row(r))),
    replacements: db.replacements.map((v) => Array.from(v)),
  };
}

/**
 * Check a parsed gate file field by field.
 * @throws {PrivacyProbeError} naming the file and the offending field (`entries.3`, `threshold`, …)
 */
export function validateGateFile(value: unknown, file?: string): GateFile {
  const bad = (field: string, why: string) => new PrivacyProbeError(why, { file, field });
  if (value === null || typeof value !== "object") throw bad("", "a gate file is a JSON object");
  const g = value as Record<string, unknown>;
  if (g.version !== 1) throw bad("version", `unsupported version ${String(g.version)}`);
  if (!Number.isInteger(g.layer) || (g.layer as number) < 0) throw bad("layer", "layer must be a non-negative integer");
  if (typeof g.threshold !== "number" || !(g.threshold >= -1 && g.threshold <= 1)) throw bad("threshold", "threshold must be a cosine similarity in [-1, 1]");
  if (!Number.isInteger(g.dim) || (g.dim as number) <= 0) throw bad("dim", "dim must be a positive integer");
  const dim = g.dim as number;
  for (const key of ["entries", "replacements"] as const) {
    const rows = g[key];
    if (!Array.isArray(rows)) throw bad(key, `${key} must be an array of vectors`);
    rows.forEach((row, i) => {
      if (!Array.isArray(row) || row.length !== dim) throw bad(`${key}.${i}`, `must be an array of ${dim} numbers`);
      if (!row.every((x) => typeof x === "number" && Number.isFinite(x))) throw bad(`${key}.${i}`, "must hold finite numbers only");
    });
  }
  if ((g.entries as unknown[]).length !== (g.replacements as unknown[]).length) throw bad("replacements", "needs exactly one replacement per entry");
  return g as unknown as GateFile;
}

/** Write a gate file atomically (temporary file + rename), validating it first. */
export async function writeGateFile(file: string, gate: GateFile): Promise<void> {
  validateGateFile(gate, file);
  await atomicWrite(file, [JSON.stringify(gate)], { gzip: false });
}

/**
 * Read and validate a gate file.
 * @throws {PrivacyProbeError} for a file that is not JSON or breaks the format (names file and field)
 */
export async function readGateFile(file: string): Promise<GateFile> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, "utf8"));
  } catch (cause) {
    throw new PrivacyProbeError("gate file is not readable JSON", { code: "BAD_FILE", file, cause });
  }
  return validateGateFile(value, file);
}
