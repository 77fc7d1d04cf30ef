/**
 * Exact top-k by magnitude over data seen in chunks, in O(n) time and 256 KiB of counters: a two-level radix
 * select on the bit patterns of |x| (for non-negative floats the bit order is the value order). Pass 1 counts
 * the high 16 bits, pass 2 the low 16 bits inside the bucket that holds the k-th largest; {@link TopKCut.keep}
 * then decides element by element in index order, keeping ties at the cut for the lowest indices, exactly like
 * {@link topKMask} on the whole tensor.
 */
export class TopKCut {
  /** |x| bit pattern of the k-th largest element. */
  readonly threshold: number;
  /** How many elements equal to the threshold are kept (the first ones in index order). */
  readonly tiesToKeep: number;
  private tiesSeen = 0;

  private constructor(threshold: number, tiesToKeep: number) {
    this.threshold = threshold;
    this.tiesToKeep = tiesToKeep;
  }

  /**
   * @param chunks called once per pass; must yield the same values in the same order each time.
   * @param k how many to keep, 1 ≤ k ≤ n.
   */
  static async find(chunks: () => AsyncIterable<Float32Array>, k: number): Promise<TopKCut> {
    const hi = new Float64Array(1 << 15);
    for await (const c of chunks()) {
      const u = new Uint32Array(c.buffer, c.byteOffset, c.length);
      for (let i = 0; i < u.length; i++) hi[(u[i]! & 0x7fffffff) >>> 16]!++;
    }
    const { bin: bucket, above: aboveHi } = cutBin(hi, k, 0);
    const lo = new Float64Array(1 << 16);
    for await (const c of chunks()) {
      const u = new Uint32Array(c.buffer, c.byteOffset, c.length);
      for (let i = 0; i < u.length; i++) {
        const m = u[i]! & 0x7fffffff;
        if (m >>> 16 === bucket) lo[m & 0xffff]!++;
      }
    }
    const { bin: low, above } = cutBin(lo, k, aboveHi);
    return new TopKCut(((bucket << 16) | low) >>> 0, k - above);
  }

  /** A cut found elsewhere (the Wasm counting kernels): threshold bits and ties to keep. */
  static of(threshold: number, tiesToKeep: number): TopKCut {
    return new TopKCut(threshold >>> 0, tiesToKeep);
  }

  /** Start over from the first chunk (a second pass with the same masks). */
  restart(): void {
    this.tiesSeen = 0;
  }

  /** Keep-mask for the next chunk (chunks must come in index order, each once). */
  mask(chunk: Float32Array, out = new Uint8Array(chunk.length)): Uint8Array {
    const u = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.length);
    const thr = this.threshold;
    for (let i = 0; i < u.length; i++) {
      const m = u[i]! & 0x7fffffff;
      if (m > thr) out[i] = 1;
      else if (m === thr && this.tiesSeen < this.tiesToKeep) {
        out[i] = 1;
        this.tiesSeen++;
      } else out[i] = 0;
    }
    return out;
  }
}

/**
 * Walk counters from the top bin down: the first bin at which `above` plus the counts so far reach k (bin 0
 * at the latest), and the count strictly above that bin.
 */
export function cutBin(counts: ArrayLike<number>, k: number, above: number): { bin: number; above: number } {
  let bin = counts.length - 1;
  for (; bin > 0; bin--) {
    if (above + counts[bin]! >= k) break;
    above += counts[bin]!;
  }
  return { bin, above };
}
