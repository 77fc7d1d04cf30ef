import { readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import type { Index, Matches } from "usearch";
import { atomicWrite, loadPeerSync } from "@sfmed/schema";
import { PrivacyProbeError } from "../errors.js";
import { normalized } from "./cosine-scan.js";
import { similarityFromDistance, type SearchHit, type VectorIndex } from "./vector-index.js";

export interface UsearchIndexOptions {
  dim: number;
  /** HNSW graph degree. @default 16 */
  connectivity?: number;
  /** Candidates kept while adding / searching (recall vs speed). @default 128 / 64 */
  expansionAdd?: number;
  expansionSearch?: number;
}

/**
 * Approximate cosine search on an HNSW graph (the `usearch` native library), for high-risk sets too large for the
 * exact scan. Same {@link VectorIndex} contract: similarities, string ids. Persisted as two files: the usearch graph
 * at `file` and the ids at `file.ids.json` (written after the graph, both atomically).
 */
type Usearch = typeof import("usearch");
let loaded: Usearch | undefined;

// usearch is a native optional peer, required on first use. The CJS build has no import.meta, the ESM build no __filename.
function usearch(): Usearch {
  loaded ??= loadPeerSync("usearch", "@sfmed/privacy-probe/usearch", () => createRequire(typeof __filename === "string" ? __filename : import.meta.url)("usearch") as Usearch);
  return loaded;
}

export class UsearchIndex implements VectorIndex {
  readonly dim: number;
  #index: Index;
  #ids: string[] = [];
  #seen = new Set<string>();
  readonly #opts: UsearchIndexOptions;

  constructor(opts: UsearchIndexOptions) {
    if (!Number.isInteger(opts.dim) || opts.dim <= 0) throw new PrivacyProbeError(`index dim must be a positive integer, got ${opts.dim}`, { field: "dim" });
    this.dim = opts.dim;
    this.#opts = opts;
    const { Index, MetricKind, ScalarKind } = usearch();
    this.#index = new Index({
      dimensions: opts.dim,
      metric: MetricKind.Cos,
      quantization: ScalarKind.F32,
      multi: false,
      connectivity: opts.connectivity ?? 16,
      expansion_add: opts.expansionAdd ?? 128,
      expansion_search: opts.expansionSearch ?? 64,
    });
  }

  get size(): number {
    return this.#ids.length;
  }

  get ids(): readonly string[] {
    return this.#ids;
  }

  /** @throws {PrivacyProbeError} code `DIM_MISMATCH` for a wrong width; `BAD_INPUT` for a zero vector or a repeated id */
  add(id: string, vector: Float32Array): void {
    if (vector.length !== this.dim) throw new PrivacyProbeError(`vector for "${id}" has ${vector.length} dims, index has ${this.dim}`, { code: "DIM_MISMATCH" });
    if (this.#seen.has(id)) throw new PrivacyProbeError(`id "${id}" is already in the index`, { field: "id" });
    const unit = normalized(vector);
    if (!unit) throw new PrivacyProbeError(`vector for "${id}" is zero or not finite`, { field: "vector" });
    this.#index.add(BigInt(this.#ids.length), unit);
    this.#ids.push(id);
    this.#seen.add(id);
  }

  search(query: Float32Array, k = 1): SearchHit[] {
    if (query.length !== this.dim) throw new PrivacyProbeError(`query has ${query.length} dims, index has ${this.dim}`, { code: "DIM_MISMATCH" });
    const unit = normalized(query);
    if (!unit || this.size === 0) return [];
    const r = this.#index.search(unit, Math.min(k, this.size), 1) as Matches;
    const hits: SearchHit[] = [];
    for (let i = 0; i < r.keys.length; i++) {
      const row = Number(r.keys[i]!);
      hits.push({ id: this.#ids[row]!, row, similarity: similarityFromDistance(r.distances[i]!) });
    }
    return hits;
  }

  async save(file: string): Promise<void> {
    // usearch writes the graph itself; write it beside the target and rename for atomicity.
    const tmp = `${file}.${process.pid}.tmp`;
    this.#index.save(tmp);
    const bytes = await readFile(tmp);
    await atomicWrite(file, [bytes], { gzip: false });
    await rm(tmp, { force: true });
    await atomicWrite(`${file}.ids.json`, [JSON.stringify({ version: 1, kind: "usearch-index", dim: this.dim, options: this.#opts, ids: this.#ids })]);
  }

  /**
   * Load an index saved by {@link UsearchIndex.save}.
   * @throws {PrivacyProbeError} code `BAD_FILE` when the ids file is missing, corrupt, or disagrees with the graph
   */
  static async load(file: string): Promise<UsearchIndex> {
    let meta: { kind?: string; dim?: number; options?: UsearchIndexOptions; ids?: string[] };
    try {
      meta = JSON.parse(await readFile(`${file}.ids.json`, "utf8")) as typeof meta;
    } catch (cause) {
      throw new PrivacyProbeError("missing or broken ids file", { code: "BAD_FILE", file: `${file}.ids.json`, cause });
    }
    if (meta.kind !== "usearch-index" || !meta.options || !Array.isArray(meta.ids)) throw new PrivacyProbeError("not a usearch index ids file", { code: "BAD_FILE", file: `${file}.ids.json` });
    const index = new UsearchIndex(meta.options);
    index.#index.load(file);
    if (index.#index.size() !== meta.ids.length) throw new PrivacyProbeError(`graph has ${index.#index.size()} vectors, ids file ${meta.ids.length}`, { code: "BAD_FILE", file });
    index.#ids = meta.ids;
    index.#seen = new Set(meta.ids);
    return index;
  }
}
