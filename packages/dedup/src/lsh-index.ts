import { bandKeysInto } from "./minhash-kernel.js";

export interface LshIndexOptions {
  bands: number;
  rows: number;
}

/**
 * An in-memory LSH index for online use: insert signatures under numeric keys, query a signature for the keys
 * that share at least one band with it. Band keys are 64-bit hashes of each band's rows. For corpora too large
 * for memory, `dedup()` instead sorts band keys one band at a time.
 *
 * @throws RangeError when a signature is shorter than bands × rows.
 */
export class LshIndex {
  readonly bands: number;
  readonly rows: number;
  private readonly tables: Array<Map<string, number[]>>;
  private readonly keyBuf: Int32Array;
  private n = 0;

  constructor(options: LshIndexOptions) {
    this.bands = options.bands;
    this.rows = options.rows;
    if (!(Number.isInteger(this.bands) && this.bands > 0 && Number.isInteger(this.rows) && this.rows > 0)) {
      throw new RangeError(`bands and rows must be positive integers, got ${this.bands}×${this.rows}`);
    }
    this.tables = Array.from({ length: this.bands }, () => new Map());
    this.keyBuf = new Int32Array(2 * this.bands);
  }

  /** Number of inserted signatures. */
  get size(): number {
    return this.n;
  }

  private keys(sig: Int32Array): string[] {
    if (sig.length < this.bands * this.rows) {
      throw new RangeError(`signature has ${sig.length} values, the index needs ${this.bands}×${this.rows}`);
    }
    bandKeysInto(sig, this.bands, this.rows, this.keyBuf, 0);
    const out: string[] = [];
    for (let b = 0; b < this.bands; b++) out.push(`${this.keyBuf[2 * b]}:${this.keyBuf[2 * b + 1]}`);
    return out;
  }

  insert(key: number, sig: Int32Array): void {
    const keys = this.keys(sig);
    for (let b = 0; b < this.bands; b++) {
      const t = this.tables[b]!;
      const bucket = t.get(keys[b]!);
      if (bucket) bucket.push(key);
      else t.set(keys[b]!, [key]);
    }
    this.n++;
  }

  /** Keys sharing at least one band with `sig`, ascending and distinct. */
  query(sig: Int32Array): number[] {
    const keys = this.keys(sig);
    const found = new Set<number>();
    for (let b = 0; b < this.bands; b++) for (const k of this.tables[b]!.get(keys[b]!) ?? []) found.add(k);
    return [...found].sort((x, y) => x - y);
  }
}
