// Write stage, index side: save the kept documents (and those of the index matched against) for a later `against`.
import { writeIndex, type IndexManifest } from "../index-store.js";
import type { DocTable } from "./doc-table.js";
import type { DedupParams } from "./params.js";

/** Saves every index document and every kept input record; `readKeys(b)` gives band `b`'s N × 2 keys. @returns documents saved. */
export async function saveKeptIndex(dir: string, docs: DocTable, keep: Uint8Array, p: DedupParams, readKeys: (b: number) => Int32Array): Promise<number> {
  const { M, N, sizes, shingleSpill, sigSpill, ids } = docs;
  const numPerm = p.numPerm;
  const saved: number[] = [];
  for (let d = 0; d < N; d++) if (d < M || keep[d - M]) saved.push(d);
  const savedSizes = new Int32Array(saved.length);
  let total = 0;
  saved.forEach((d, i) => {
    savedSizes[i] = sizes[d]!;
    total += sizes[d]!;
  });
  let shingles: Int32Array | undefined;
  if (shingleSpill) {
    shingles = new Int32Array(total);
    let at = 0;
    for (const d of saved) {
      // indexes keep each set sorted, as they always have
      shingleSpill.read(docs.shingleStart(d), sizes[d]!, shingles.subarray(at, at + sizes[d]!)).sort();
      at += sizes[d]!;
    }
  }
  let signatures: Int32Array | undefined;
  if (sigSpill) {
    const sigs = new Int32Array(saved.length * numPerm);
    saved.forEach((d, i) => sigSpill.read(d * numPerm, numPerm, sigs.subarray(i * numPerm, (i + 1) * numPerm)));
    signatures = sigs;
  }
  const manifest: IndexManifest = {
    format: "sfmed-dedup-index",
    version: 1,
    hashScheme: p.hashScheme,
    normalization: p.normalization,
    numPerm,
    seed: p.seed,
    ngram: p.ngram,
    bands: p.bands,
    rows: p.rows,
    count: saved.length,
    hasShingles: Boolean(shingles),
    hasSignatures: Boolean(signatures),
  };
  await writeIndex(dir, manifest, {
    ids: saved.map((d) => ids[d] ?? null),
    bandKeys: (b) => {
      const keys = readKeys(b);
      const out = new Int32Array(2 * saved.length);
      saved.forEach((d, i) => {
        out[2 * i] = keys[2 * d]!;
        out[2 * i + 1] = keys[2 * d + 1]!;
      });
      return out;
    },
    sizes: savedSizes,
    ...(shingles ? { shingles } : {}),
    ...(signatures ? { signatures } : {}),
  });
  return saved.length;
}
