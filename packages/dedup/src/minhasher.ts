import { AFFINE_SCHEME, codePointsInto, minhashInto, shingleHashesInto, shingleSetInto } from "./minhash-kernel.js";
import { createWasmOph, OPH_SCHEME, ophInto, ophPlan } from "./minhash-oph.js";
import { createSimdMinhash, type SimdMinhash } from "./minhash-simd.js";
import { normalizeText } from "./normalize-text.js";
import { splitmix32 } from "@sfmed/schema/io";

/**
 * How a set of shingle hashes becomes `numPerm` slots. `"oph"`: one-permutation hashing with optimal
 * densification, O(shingles + numPerm) per document. `"minhash"`: `numPerm` independent affine permutations, the
 * classic MinHash of the paper, O(shingles × numPerm). Both estimate Jaccard as the share of equal slots.
 */
export type Sketch = "oph" | "minhash";

/** The hash-scheme tag of a sketch, as saved indexes record it. */
export function hashSchemeOf(sketch: Sketch): string {
  return sketch === "minhash" ? AFFINE_SCHEME : OPH_SCHEME;
}

export interface MinHasherOptions {
  /** Number of permutations (signature length). @default 128 */
  numPerm?: number;
  /** Seed of the permutations. @default 1 */
  seed?: number;
  /** Shingle length in code points. @default 5 */
  ngram?: number;
  /** Sketch behind the signature slots; `"minhash"` restores the paper's k-permutation MinHash. @default "oph" */
  sketch?: Sketch;
  /** Normalisation applied by {@link MinHasher.signature}; pass `(s) => s` for none. @default normalizeText */
  normalize?: (text: string) => string;
}

/** A count of code points must lie in the buffer (a −1 from `normalizedCodePointsInto` means "not fused"). */
function checkLength(cps: Int32Array, len: number): void {
  if (!(len >= 0 && len <= cps.length)) throw new RangeError(`code-point count ${len} is outside the buffer of ${cps.length}`);
}

/**
 * MinHash signatures of texts: normalise → character n-gram hashes → `numPerm` slots, by one-permutation hashing
 * with optimal densification (default) or `numPerm` seeded affine permutations (`sketch: "minhash"`).
 * Reuses its scratch buffers, so one instance per thread.
 *
 * @throws RangeError for a non-positive `numPerm` or `ngram`.
 */
export class MinHasher {
  readonly numPerm: number;
  readonly seed: number;
  readonly ngram: number;
  readonly sketch: Sketch;
  /** Multipliers and offsets of the `"minhash"` sketch's permutations (drawn for either sketch). */
  readonly a: Int32Array;
  readonly b: Int32Array;
  private readonly normalize: (text: string) => string;
  private cps: Int32Array = new Int32Array(1024);
  private hashes: Int32Array = new Int32Array(1024);
  /** Wasm SIMD kernel (bit-identical, ≈4× faster), null where unavailable; created on first use. */
  private simd: SimdMinhash | null | undefined;
  /** The one-permutation sketch of this hasher (Wasm where available, else the same loop in JavaScript). */
  private oph: ((h: Int32Array, m: number, sig: Int32Array) => void) | undefined;

  constructor(options: MinHasherOptions = {}) {
    this.numPerm = options.numPerm ?? 128;
    this.seed = options.seed ?? 1;
    this.ngram = options.ngram ?? 5;
    this.sketch = options.sketch ?? "oph";
    this.normalize = options.normalize ?? normalizeText;
    if (this.sketch !== "oph" && this.sketch !== "minhash") throw new RangeError(`sketch must be "oph" or "minhash", got ${String(this.sketch)}`);
    if (!Number.isInteger(this.numPerm) || this.numPerm < 1) throw new RangeError(`numPerm must be a positive integer, got ${this.numPerm}`);
    if (!Number.isInteger(this.ngram) || this.ngram < 1) throw new RangeError(`ngram must be a positive integer, got ${this.ngram}`);
    const next = splitmix32(this.seed);
    this.a = new Int32Array(this.numPerm);
    this.b = new Int32Array(this.numPerm);
    for (let i = 0; i < this.numPerm; i++) {
      this.a[i] = next() | 1; // odd multiplier: a bijection modulo 2^32
      this.b[i] = next();
    }
  }

  /**
   * Sorted distinct 32-bit shingle hashes of an already normalised text (a view into a scratch buffer that
   * the next call overwrites; copy it to keep it).
   */
  shingleHashes(normalized: string): Int32Array {
    const [len, cps] = codePointsInto(normalized, this.cps);
    this.cps = cps;
    if (this.hashes.length < len + 1) this.hashes = new Int32Array(Math.max(len + 1, this.hashes.length * 2));
    const m = shingleHashesInto(cps, len, this.ngram, this.hashes);
    return this.hashes.subarray(0, m);
  }

  /** As {@link MinHasher.shingleHashes}, from the first `len` code points in `cps`. */
  shingleHashesOfCodePoints(cps: Int32Array, len: number): Int32Array {
    checkLength(cps, len);
    if (this.hashes.length < len + 1) this.hashes = new Int32Array(Math.max(len + 1, this.hashes.length * 2));
    const m = shingleHashesInto(cps, len, this.ngram, this.hashes);
    return this.hashes.subarray(0, m);
  }

  /** As {@link MinHasher.shingleHashesOfCodePoints}, distinct but in first-seen order (cheaper; same signature). */
  shingleSetOfCodePoints(cps: Int32Array, len: number): Int32Array {
    checkLength(cps, len);
    if (this.hashes.length < len + 1) this.hashes = new Int32Array(Math.max(len + 1, this.hashes.length * 2));
    const m = shingleSetInto(cps, len, this.ngram, this.hashes);
    return this.hashes.subarray(0, m);
  }

  /** Signature of a set of shingle hashes; `out` is reused when given. An empty set gives all SIG_EMPTY. */
  signatureOfHashes(hashes: Int32Array, out: Int32Array = new Int32Array(this.numPerm)): Int32Array {
    if (this.sketch === "oph") {
      if (!this.oph) {
        const plan = ophPlan(this.numPerm, this.seed);
        this.oph = createWasmOph(plan) ?? ((h, m, sig) => ophInto(h, m, plan, sig));
      }
      this.oph(hashes, hashes.length, out);
      return out;
    }
    if (this.simd === undefined) this.simd = createSimdMinhash(this.a, this.b);
    if (this.simd) this.simd.minhash(hashes, hashes.length, out);
    else minhashInto(hashes, hashes.length, this.a, this.b, this.numPerm, out);
    return out;
  }

  /** The hash-scheme tag of this hasher's sketch (what a saved index records). */
  get hashScheme(): string {
    return hashSchemeOf(this.sketch);
  }

  /** Signature of a raw text (normalised with this hasher's normalisation first). */
  signature(text: string, out?: Int32Array): Int32Array {
    return this.signatureOfHashes(this.shingleHashes(this.normalize(text)), out);
  }

  /** Estimated Jaccard similarity: the share of equal signature slots. */
  static estimate(a: Int32Array, b: Int32Array): number {
    if (a.length !== b.length) throw new RangeError(`signatures differ in length: ${a.length} vs ${b.length}`);
    let eq = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) eq++;
    return a.length === 0 ? 0 : eq / a.length;
  }
}
