import { EvalInputError } from "./errors.js";
import { seededRandom } from "@sfmed/schema/io";

const TWO_32 = 4294967296;
const TWO_53 = 9007199254740992;

/**
 * A uniform integer in [0, n) by rejection, so no value is favoured (scaling one float by n would favour some by up
 * to n/2³²). Draws are exact multiples of 2⁻³² (mulberry32), so `rand() · 2³²` is an integer.
 */
function randomBelow(rand: () => number, n: number): number {
  if (n <= TWO_32) {
    const limit = TWO_32 - (TWO_32 % n);
    for (;;) {
      const u = Math.floor(rand() * TWO_32);
      if (u < limit) return u % n;
    }
  }
  // Past 2³² items: 53 bits from two draws.
  const limit = TWO_53 - (TWO_53 % n);
  for (;;) {
    const u = Math.floor(rand() * 2097152) * TWO_32 + Math.floor(rand() * TWO_32);
    if (u < limit) return u % n;
  }
}

export interface ReservoirOptions {
  /** Seed of the PRNG (mulberry32): the same seed over the same input gives the same sample. @default 0 */
  seed?: number;
}

/** A sample drawn by {@link reservoirSample}. */
export interface ReservoirResult<T> {
  /** The sampled items in input order. */
  items: T[];
  /** Their 0-based positions in the input, ascending. */
  indices: number[];
  /** Items seen in the whole input. */
  seen: number;
}

/**
 * Reservoir sampling (Vitter's algorithm R) fed one item at a time: after any number of `add` calls, `result()` is
 * a uniform random sample of min(k, seen) of the items seen so far — every subset of that size equally likely —
 * held in O(k) memory. Returned in input order, not in reservoir order.
 */
export class ReservoirSampler<T> {
  readonly k: number;
  readonly #rand: () => number;
  readonly #items: T[] = [];
  readonly #indices: number[] = [];
  #seen = 0;

  /** @throws EvalInputError when `k` is not a non-negative integer or the seed is not an integer. */
  constructor(k: number, options: ReservoirOptions = {}) {
    if (!Number.isSafeInteger(k) || k < 0) throw new EvalInputError(`sample size must be an integer ≥ 0, got ${k}`, { field: "k" });
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new EvalInputError(`seed must be an integer, got ${seed}`, { field: "seed" });
    this.k = k;
    this.#rand = seededRandom(seed);
  }

  get seen(): number {
    return this.#seen;
  }

  add(item: T): void {
    const i = this.#seen++;
    if (i < this.k) {
      this.#items.push(item);
      this.#indices.push(i);
      return;
    }
    if (this.k === 0) return;
    // Item i (0-based) enters with probability k/(i+1), replacing a uniformly chosen slot.
    const j = randomBelow(this.#rand, i + 1);
    if (j < this.k) {
      this.#items[j] = item;
      this.#indices[j] = i;
    }
  }

  /** The sample so far, in input order. */
  result(): ReservoirResult<T> {
    const order = this.#indices.map((_, s) => s).sort((a, b) => this.#indices[a]! - this.#indices[b]!);
    return { items: order.map((s) => this.#items[s]!), indices: order.map((s) => this.#indices[s]!), seen: this.#seen };
  }
}

/**
 * A uniform random sample of `k` items from a stream of unknown length (all of them when it holds fewer), in one
 * pass and O(k) memory. Deterministic for a seed; the items come back in input order.
 * @throws EvalInputError on a bad `k` or seed
 */
export async function reservoirSample<T>(source: Iterable<T> | AsyncIterable<T>, k: number, options: ReservoirOptions = {}): Promise<ReservoirResult<T>> {
  const sampler = new ReservoirSampler<T>(k, options);
  for await (const item of source) sampler.add(item);
  return sampler.result();
}
