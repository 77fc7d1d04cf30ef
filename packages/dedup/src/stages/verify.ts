// Verify stage: confirm LSH candidate pairs (exact Jaccard, MinHash estimate, or not at all) and union the
// confirmed ones.
import { jaccardOfSets } from "../minhash-kernel.js";
import type { UnionFind } from "../union-find.js";
import type { DocTable } from "./doc-table.js";
import type { DedupParams } from "./params.js";

/** Confirms candidate pairs and merges them in `uf`; counts the checks. */
export class PairVerifier {
  verified = 0;
  accepted = 0;
  // Rejected pairs, so a pair colliding in several bands is checked once: a direct-mapped table of at most 2^21
  // slots (16 MB). A pair pushed out by another can be checked again (same verdict); a Set of every rejected pair
  // took ≈40 bytes per pair, hundreds of MB at 10M documents.
  private readonly rejBits: number;
  private readonly rejLo: Int32Array;
  private readonly rejHi: Int32Array;
  private bufA = new Int32Array(1024);
  private bufB = new Int32Array(1024);
  private readonly sigA: Int32Array;
  private readonly sigB: Int32Array;

  constructor(
    private readonly docs: DocTable,
    private readonly p: Pick<DedupParams, "verify" | "threshold" | "numPerm">,
    private readonly uf: UnionFind,
    private readonly onPair?: ((a: number, b: number, accepted: boolean) => void) | undefined,
  ) {
    this.rejBits = Math.min(21, Math.max(10, Math.ceil(Math.log2(2 * docs.N + 1))));
    this.rejLo = new Int32Array(1 << this.rejBits).fill(-1);
    this.rejHi = new Int32Array(1 << this.rejBits);
    this.sigA = new Int32Array(p.numPerm);
    this.sigB = new Int32Array(p.numPerm);
  }

  /** Exact Jaccard of two documents' shingle sets (read back from the spill; `verify: "exact"` only). */
  jaccardExact(x: number, y: number): number {
    const { sizes, shingleSpill } = this.docs;
    const sx = sizes[x]!;
    const sy = sizes[y]!;
    if (this.bufA.length < sx) this.bufA = new Int32Array(sx * 2);
    if (this.bufB.length < sy) this.bufB = new Int32Array(sy * 2);
    const a = shingleSpill!.read(this.docs.shingleStart(x), sx, this.bufA);
    const b = shingleSpill!.read(this.docs.shingleStart(y), sy, this.bufB);
    // sets are distinct hashes in any order (sorted in indexes written before, first-seen order now)
    return jaccardOfSets(a, sx, b, sy);
  }

  isDuplicate(x: number, y: number): boolean {
    const { verify, threshold, numPerm } = this.p;
    if (verify === "none") return true;
    if (verify === "exact") {
      const sx = this.docs.sizes[x]!;
      const sy = this.docs.sizes[y]!;
      // J ≤ min/max of the set sizes: skip the read when that already rules the pair out
      if (Math.min(sx, sy) < threshold * Math.max(sx, sy) - 1e-9) return false;
      return this.jaccardExact(x, y) >= threshold - 1e-12;
    }
    const { sigA, sigB } = this;
    this.docs.sigSpill!.read(x * numPerm, numPerm, sigA);
    this.docs.sigSpill!.read(y * numPerm, numPerm, sigB);
    let eq = 0;
    for (let k = 0; k < numPerm; k++) if (sigA[k] === sigB[k]) eq++;
    return eq / numPerm >= threshold - 1e-12;
  }

  /** A candidate pair: skipped when both are index documents, already joined, or rejected before. */
  readonly tryPair = (x: number, y: number): void => {
    const M = this.docs.M;
    if (x < M && y < M) return; // two index documents: both were kept before
    const uf = this.uf;
    if (uf.find(x) === uf.find(y)) return;
    const lo = x < y ? x : y;
    const hi = x < y ? y : x;
    const slot = (Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi, 0x85ebca6b)) >>> (32 - this.rejBits);
    if (this.rejLo[slot] === lo && this.rejHi[slot] === hi) return;
    this.verified++;
    const ok = this.isDuplicate(x, y);
    if (ok) {
      this.accepted++;
      uf.union(x, y);
    } else {
      this.rejLo[slot] = lo;
      this.rejHi[slot] = hi;
    }
    this.onPair?.(x < M ? -1 - x : x - M, y < M ? -1 - y : y - M, ok);
  };

  /** Removed records whose own similarity to their cluster's survivor `best[root]` is below the threshold. */
  countBelowThreshold(keep: Uint8Array, best: Int32Array): number {
    const { M, N } = this.docs;
    let n = 0;
    for (let d = M; d < N; d++) {
      if (keep[d - M]) continue;
      const s = best[this.uf.find(d)]!;
      if (s >= 0 && this.jaccardExact(d, s) < this.p.threshold - 1e-12) n++;
    }
    return n;
  }
}
