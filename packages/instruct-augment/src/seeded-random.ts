// Why not the schema's `seededRandom` (mulberry32)? This generator's whole state is saved in every augmentation
// checkpoint (`rng`, four words) so a resumed run continues the exact stream, which a closure cannot offer; and the
// committed example outputs (examples/mini-sfmed/out/augment-*) and their checkpoints were made with this sfc32
// stream, so switching would change published results and refuse to resume existing checkpoints.
/** The whole state of a {@link SeededRandom}: four 32-bit words, JSON-safe, so a checkpoint can carry it. */
export type RandomState = [number, number, number, number];

/**
 * sfc32, a small fast PRNG whose state fits in a checkpoint. The same seed (or restored state) gives the same
 * sequence on every platform.
 */
export class SeededRandom {
  #s: RandomState;

  private constructor(state: RandomState) {
    this.#s = [...state];
  }

  /** A generator from an integer seed (mixed with splitmix32 so nearby seeds diverge at once). */
  static fromSeed(seed: number): SeededRandom {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    const r = new SeededRandom([next(), next(), next(), next()]);
    for (let i = 0; i < 12; i++) r.nextUint32();
    return r;
  }

  static fromState(state: RandomState): SeededRandom {
    return new SeededRandom(state);
  }

  state(): RandomState {
    return [...this.#s];
  }

  nextUint32(): number {
    let [a, b, c, d] = this.#s;
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    this.#s = [a >>> 0, b, c, d];
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(xs: readonly T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }

  /** `k` distinct indices of [0, n) in random order (all of them when k ≥ n). */
  sampleIndices(n: number, k: number): number[] {
    const idx = Array.from({ length: n }, (_, i) => i);
    const take = Math.min(k, n);
    for (let i = 0; i < take; i++) {
      const j = i + this.int(n - i);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return idx.slice(0, take);
  }
}
