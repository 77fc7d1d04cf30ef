import { PrivacyProbeError } from "../errors.js";
import { cosineScan, normalized } from "./cosine-scan.js";
import { readVectorFile, writeVectorFile } from "./vector-file.js";
import type { SearchHit, VectorIndex } from "./vector-index.js";

const KIND = "exact-cosine-index";

/**
 * Exact cosine search: rows are stored L2-normalised in one growable Float32Array and a query is compared with every
 * row (one dot product each). Deterministic, dependency-free, and fast enough for thousands of entries (the paper
 * found 512 high-risk samples); for millions use the `@sfmed/privacy-probe/usearch` backend.
 */
export class ExactCosineIndex implements VectorIndex {
  readonly dim: number;
  #data: Float32Array;
  #ids: string[] = [];
  #rowOf = new Map<string, number>();

  /** @throws {PrivacyProbeError} for a non-positive or non-integer `dim` */
  constructor(dim: number, capacity = 64) {
    if (!Number.isInteger(dim) || dim <= 0) throw new PrivacyProbeError(`index dim must be a positive integer, got ${dim}`, { field: "dim" });
    this.dim = dim;
    this.#data = new Float32Array(dim * Math.max(1, capacity));
  }

  get size(): number {
    return this.#ids.length;
  }

  /** Ids in row order. */
  get ids(): readonly string[] {
    return this.#ids;
  }

  /** The unit-length row `row` (a view; do not modify). */
  row(row: number): Float32Array {
    return this.#data.subarray(row * this.dim, (row + 1) * this.dim);
  }

  /**
   * Add a vector under a new id.
   * @throws {PrivacyProbeError} code `DIM_MISMATCH` for a wrong width; `BAD_INPUT` for a zero vector or a repeated id
   */
  add(id: string, vector: Float32Array): void {
    if (vector.length !== this.dim) throw new PrivacyProbeError(`vector for "${id}" has ${vector.length} dims, index has ${this.dim}`, { code: "DIM_MISMATCH" });
    if (this.#rowOf.has(id)) throw new PrivacyProbeError(`id "${id}" is already in the index`, { field: "id" });
    const unit = normalized(vector);
    if (!unit) throw new PrivacyProbeError(`vector for "${id}" is zero or not finite`, { field: "vector" });
    const row = this.#ids.length;
    if ((row + 1) * this.dim > this.#data.length) {
      const grown = new Float32Array(this.#data.length * 2);
      grown.set(this.#data);
      this.#data = grown;
    }
    this.#data.set(unit, row * this.dim);
    this.#ids.push(id);
    this.#rowOf.set(id, row);
  }

  /**
   * Cosine similarity of the query with every row, in row order.
   * @throws {PrivacyProbeError} code `DIM_MISMATCH` for a wrong width
   */
  similarities(query: Float32Array): Float32Array {
    if (query.length !== this.dim) throw new PrivacyProbeError(`query has ${query.length} dims, index has ${this.dim}`, { code: "DIM_MISMATCH" });
    const unit = normalized(query);
    if (!unit) return new Float32Array(this.size);
    return cosineScan(this.#data, this.dim, this.size, unit);
  }

  search(query: Float32Array, k = 1): SearchHit[] {
    const sims = this.similarities(query);
    const order = Array.from(sims.keys()).sort((a, b) => sims[b]! - sims[a]! || a - b);
    return order.slice(0, Math.max(0, k)).map((row) => ({ id: this.#ids[row]!, row, similarity: sims[row]! }));
  }

  /** The most similar row, or undefined for an empty index. */
  nearest(query: Float32Array): SearchHit | undefined {
    const sims = this.similarities(query);
    let best = -1;
    for (let r = 0; r < sims.length; r++) if (best < 0 || sims[r]! > sims[best]!) best = r;
    return best < 0 ? undefined : { id: this.#ids[best]!, row: best, similarity: sims[best]! };
  }

  /** The stored unit rows, back to back (a copy trimmed to `size`). */
  matrix(): Float32Array {
    return this.#data.slice(0, this.size * this.dim);
  }

  /** Persist as a vector file (binary rows + JSON header with the ids), atomically. */
  async save(file: string, meta: Record<string, unknown> = {}): Promise<void> {
    await writeVectorFile(file, { version: 1, kind: KIND, ids: this.#ids, meta }, [{ name: "rows", dim: this.dim, data: this.matrix() }]);
  }

  /**
   * Load an index saved by {@link ExactCosineIndex.save}.
   * @throws {PrivacyProbeError} code `BAD_FILE` for a corrupt file or one of another kind
   */
  static async load(file: string): Promise<ExactCosineIndex> {
    const { header, matrices } = await readVectorFile(file, KIND);
    const rows = matrices.get("rows");
    const ids = header.ids;
    if (!rows || !Array.isArray(ids) || ids.length * rows.dim !== rows.data.length) throw new PrivacyProbeError("ids and rows disagree", { code: "BAD_FILE", file });
    return ExactCosineIndex.fromRows(rows.dim, ids as string[], rows.data);
  }

  /** Build from ids and a row-major matrix (rows are normalised again). */
  static fromRows(dim: number, ids: readonly string[], data: Float32Array): ExactCosineIndex {
    const index = new ExactCosineIndex(dim, ids.length);
    ids.forEach((id, r) => index.add(id, data.subarray(r * dim, (r + 1) * dim)));
    return index;
  }
}
