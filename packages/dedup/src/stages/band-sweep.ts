// Band pass stage: one band at a time, sort the keys into buckets and turn each bucket into candidate pairs.
import { forEachBucket } from "../band-pass.js";
import type { DedupProgress } from "../dedup-options.js";
import { throwIfAborted } from "../errors.js";
import type { DocTable } from "./doc-table.js";

/** Buckets with at most this many members are verified pair by pair; larger ones against anchors. */
export const ALL_PAIRS_LIMIT = 16;

/** Hands every bucket member pair (or, for a large bucket, anchor pairs) to `tryPair`. */
export function emitPairs(list: Int32Array, c: number, tryPair: (x: number, y: number) => void): void {
  if (c <= ALL_PAIRS_LIMIT) {
    for (let p = 0; p < c; p++) for (let q = p + 1; q < c; q++) tryPair(list[p]!, list[q]!);
  } else {
    // large bucket: every member against the first one and its predecessor
    for (let q = 1; q < c; q++) {
      tryPair(list[0]!, list[q]!);
      if (q > 1) tryPair(list[q - 1]!, list[q]!);
    }
  }
}

/**
 * A bucket split by source: the members of each source (in document order, sources by first appearance) are
 * emitted as a bucket of their own.
 */
export function perSourceEmitter(sourceOf: ArrayLike<number>, emit: (members: Int32Array, c: number) => void): (members: Int32Array, c: number) => void {
  const groups = new Map<number, number[]>();
  let sub = new Int32Array(64);
  return (members, c) => {
    const s0 = sourceOf[members[0]!]!;
    let same = true;
    for (let q = 1; q < c; q++) if (sourceOf[members[q]!] !== s0) same = false;
    if (same) {
      emit(members, c);
      return;
    }
    groups.clear();
    for (let q = 0; q < c; q++) {
      const d = members[q]!;
      const s = sourceOf[d]!;
      const g = groups.get(s);
      if (g) g.push(d);
      else groups.set(s, [d]);
    }
    for (const g of groups.values()) {
      if (g.length < 2) continue;
      if (sub.length < g.length) sub = new Int32Array(2 * g.length);
      sub.set(g);
      emit(sub, g.length);
    }
  };
}

/** Reads band keys back from the spills and sweeps them; owns the pass's big buffers. */
export class BandSweeper {
  readonly scratch: { idx: Int32Array; tmp: Int32Array };
  private keyBuf = new Int32Array(0);

  constructor(private readonly docs: DocTable) {
    this.scratch = { idx: new Int32Array(docs.N), tmp: new Int32Array(docs.N) };
  }

  /** Band `b`'s N × (hi, lo) keys, in a buffer reused by the next call. */
  readKeys(b: number): Int32Array {
    const N = this.docs.N;
    if (this.keyBuf.length < 2 * N) this.keyBuf = new Int32Array(2 * N);
    return this.docs.bandSpills[b]!.read(0, 2 * N, this.keyBuf);
  }

  /** Every band's buckets of two or more documents not in `skip`. */
  sweep(phase: DedupProgress["phase"], skip: Uint8Array, onBucket: (members: Int32Array, c: number) => void, hooks: { onProgress?: ((p: DedupProgress) => void) | undefined; signal?: AbortSignal | undefined }): void {
    const bands = this.docs.bandSpills.length;
    for (let b = 0; b < bands; b++) {
      throwIfAborted(hooks.signal);
      forEachBucket(this.readKeys(b), this.docs.N, skip, onBucket, this.scratch);
      hooks.onProgress?.({ phase, done: b + 1, total: bands });
    }
  }

  /**
   * N-long views into the pass's buffers (done with once the sweeps are), so later stages stay within the pass's
   * peak memory: 0 = bucket index, 1 = its temp, 2 = the key buffer. A fresh array where a buffer is too short.
   */
  reuse(which: 0 | 1 | 2): Int32Array {
    const N = this.docs.N;
    const buf = which === 0 ? this.scratch.idx : which === 1 ? this.scratch.tmp : this.keyBuf;
    return buf.length >= N ? buf.subarray(0, N) : new Int32Array(N);
  }
}

/** The global stage's skip mask: empty documents and those removed in the per-source stage. */
export function skipMask(empty: Uint8Array, alive: Uint8Array): Uint8Array {
  const skip = new Uint8Array(empty.length);
  for (let d = 0; d < empty.length; d++) skip[d] = empty[d] || !alive[d] ? 1 : 0;
  return skip;
}
