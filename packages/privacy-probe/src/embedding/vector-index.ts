/** One search result: the stored id, its row, and cosine similarity in [−1, 1]. */
export interface SearchHit {
  id: string;
  row: number;
  similarity: number;
}

/**
 * A cosine-similarity index over fixed-width vectors with string ids. Backends return similarity (1 − cosine
 * distance) so the gate threshold means the same everywhere: a hit is `similarity > threshold`.
 */
export interface VectorIndex {
  readonly dim: number;
  readonly size: number;
  /** Add one vector (any norm; zero vectors are rejected). */
  add(id: string, vector: Float32Array): void;
  /** The `k` most similar stored vectors, most similar first. */
  search(query: Float32Array, k?: number): SearchHit[];
  /** Persist to `file` atomically. */
  save(file: string): Promise<void>;
}

/** Cosine similarity from a cosine distance (what HNSW libraries return). Kept in one place on purpose. */
export function similarityFromDistance(distance: number): number {
  return 1 - distance;
}
