import { bandKeysInto, codePointsInto } from "./minhash-kernel.js";
import { MinHasher, type Sketch } from "./minhasher.js";
import { normalizedCodePointsInto, normalizeText } from "./normalize-text.js";

/** What a signature batch needs; plain data so it can be posted to a worker thread. */
export interface BatchParams {
  numPerm: number;
  seed: number;
  ngram: number;
  /** Signature sketch (see {@link Sketch}). @default "oph" */
  sketch?: Sketch;
  bands: number;
  rows: number;
  /** Return each document's distinct shingle hashes (for exact verification). */
  keepShingles: boolean;
  /** Return full signatures (for estimate verification). */
  keepSignatures: boolean;
}

/** Per-batch output, in typed arrays that transfer between threads without copying. */
export interface BatchResult {
  count: number;
  /** `count × bands × 2` Int32: 64-bit band keys as (hi, lo). */
  bandKeys: Int32Array;
  /** Shingle-set size per document; 0 means the normalised text is empty. */
  sizes: Int32Array;
  /** Concatenated shingle sets (lengths in `sizes`; distinct hashes in first-seen order), when `keepShingles`. */
  shingles?: Int32Array;
  /** `count × numPerm` Int32, when `keepSignatures`. */
  signatures?: Int32Array;
}

/**
 * A function that turns a batch of raw texts into band keys (and optionally shingle sets and signatures):
 * normalise → shingle hashes → MinHash → band keys. Used on worker threads and on the calling thread alike, so
 * both paths give identical bytes.
 */
export function createBatchComputer(params: BatchParams, normalize: (text: string) => string = normalizeText): (texts: readonly string[]) => BatchResult {
  const hasher = new MinHasher({ numPerm: params.numPerm, seed: params.seed, ngram: params.ngram, sketch: params.sketch ?? "oph" });
  const sig = new Int32Array(params.numPerm);
  const width = 2 * params.bands;
  // the default normalisation runs fused with code-point reading (no intermediate string) where it can
  const fused = normalize === normalizeText;
  let cps: Int32Array = new Int32Array(1024);
  return (texts) => {
    const count = texts.length;
    const bandKeys = new Int32Array(count * width);
    const sizes = new Int32Array(count);
    const signatures = params.keepSignatures ? new Int32Array(count * params.numPerm) : undefined;
    // shingle sets go straight into one growing buffer (a slice per document was most of the batch's garbage)
    let all = params.keepShingles ? new Int32Array(Math.max(1024, count * 256)) : undefined;
    let total = 0;
    for (let i = 0; i < count; i++) {
      const text = texts[i]!;
      // room for a few expansions (㎎ → mg) on the fused path
      if (cps.length < text.length + 64) cps = new Int32Array(Math.max(text.length + 64, 2 * cps.length));
      let len = fused ? normalizedCodePointsInto(text, cps) : -1;
      if (len < 0) [len, cps] = codePointsInto(normalize(text), cps);
      const hashes = hasher.shingleSetOfCodePoints(cps, len);
      sizes[i] = hashes.length;
      if (hashes.length === 0) continue; // empty text: no keys, never a candidate
      hasher.signatureOfHashes(hashes, sig);
      bandKeysInto(sig, params.bands, params.rows, bandKeys, i * width);
      if (signatures) signatures.set(sig, i * params.numPerm);
      if (all) {
        if (total + hashes.length > all.length) {
          const grown = new Int32Array(Math.max(2 * all.length, total + hashes.length));
          grown.set(all.subarray(0, total));
          all = grown;
        }
        all.set(hashes, total);
        total += hashes.length;
      }
    }
    const out: BatchResult = { count, bandKeys, sizes };
    if (signatures) out.signatures = signatures;
    // an exact-length copy: the buffer is transferred to the calling thread and spilled as it is
    if (all) out.shingles = all.slice(0, total);
    return out;
  };
}

/** The buffers of a result, for zero-copy transfer to another thread. */
export function transferList(r: BatchResult): ArrayBuffer[] {
  const list = [r.bandKeys.buffer, r.sizes.buffer] as ArrayBuffer[];
  if (r.shingles) list.push(r.shingles.buffer as ArrayBuffer);
  if (r.signatures) list.push(r.signatures.buffer as ArrayBuffer);
  return list;
}
