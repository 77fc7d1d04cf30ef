import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { AtomicDir } from "@sfmed/schema/io";
import { DedupError } from "./errors.js";

/** Parameters that must match between a saved index and the run that uses it. */
export interface IndexParams {
  hashScheme: string;
  normalization: string;
  numPerm: number;
  seed: number;
  ngram: number;
  bands: number;
  rows: number;
}

export interface IndexManifest extends IndexParams {
  format: "sfmed-dedup-index";
  version: 1;
  count: number;
  hasShingles: boolean;
  hasSignatures: boolean;
}

/** A saved index's contents, all by document in saved order. */
export interface LoadedIndex {
  manifest: IndexManifest;
  ids: Array<string | null>;
  /** Per band: count × 2 Int32 band keys. */
  bandKeys: Int32Array[];
  sizes: Int32Array;
  shingles?: Int32Array;
  signatures?: Int32Array;
}

const bandFile = (b: number) => `band-${String(b).padStart(3, "0")}.i32`;

function bytes(a: Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

async function readI32(file: string): Promise<Int32Array> {
  const buf = await readFile(file);
  const out = new Int32Array(buf.byteLength / 4);
  bytes(out).set(buf);
  return out;
}

/**
 * Write an index directory atomically: everything goes to a temp folder beside `dir` (schema's `AtomicDir`), which
 * then replaces `dir`; on an error the temp is removed and a previous index stays as it was.
 */
export async function writeIndex(
  dir: string,
  manifest: IndexManifest,
  parts: { ids: Array<string | null>; bandKeys: (band: number) => Int32Array; sizes: Int32Array; shingles?: Int32Array; signatures?: Int32Array },
): Promise<void> {
  // Resolved: with "idx/" (trailing slash) a temp folder inside the old index would be moved away with it.
  const out = await AtomicDir.create(path.resolve(dir));
  try {
    const tmp = out.path;
    for (let b = 0; b < manifest.bands; b++) await writeFile(path.join(tmp, bandFile(b)), bytes(parts.bandKeys(b)));
    await writeFile(path.join(tmp, "sizes.i32"), bytes(parts.sizes));
    if (parts.shingles) await writeFile(path.join(tmp, "shingles.i32"), bytes(parts.shingles));
    if (parts.signatures) await writeFile(path.join(tmp, "signatures.i32"), bytes(parts.signatures));
    await writeFile(path.join(tmp, "ids.json"), JSON.stringify(parts.ids));
    await writeFile(path.join(tmp, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/**
 * Read an index directory and check it was built with the same parameters.
 *
 * @throws DedupError `INDEX_MISSING` when there is no manifest, `INDEX_MISMATCH` naming the differing field.
 */
export async function readIndex(dir: string, want: IndexParams & { needShingles: boolean; needSignatures: boolean }): Promise<LoadedIndex> {
  const manifestPath = path.join(dir, "manifest.json");
  if (!existsSync(manifestPath)) throw new DedupError("not a dedup index (no manifest.json)", { code: "INDEX_MISSING", file: dir });
  const manifest = JSON.parse(await readFile(manifestPath, "utf8")) as IndexManifest;
  if (manifest.format !== "sfmed-dedup-index" || manifest.version !== 1) {
    throw new DedupError(`unsupported index format ${manifest.format}@${manifest.version}`, { code: "INDEX_MISMATCH", file: manifestPath });
  }
  for (const key of ["hashScheme", "normalization", "numPerm", "seed", "ngram", "bands", "rows"] as const) {
    if (manifest[key] !== want[key]) {
      throw new DedupError(`index has ${key}=${String(manifest[key])}, this run uses ${String(want[key])}`, {
        code: "INDEX_MISMATCH",
        file: manifestPath,
        field: key,
      });
    }
  }
  if (want.needShingles && !manifest.hasShingles) {
    throw new DedupError("exact verification needs shingle sets, but the index was saved without them", { code: "INDEX_MISMATCH", file: manifestPath, field: "verify" });
  }
  if (want.needSignatures && !manifest.hasSignatures) {
    throw new DedupError("estimate verification needs signatures, but the index was saved without them", { code: "INDEX_MISMATCH", file: manifestPath, field: "verify" });
  }
  const bandKeys: Int32Array[] = [];
  for (let b = 0; b < manifest.bands; b++) bandKeys.push(await readI32(path.join(dir, bandFile(b))));
  const out: LoadedIndex = {
    manifest,
    ids: JSON.parse(await readFile(path.join(dir, "ids.json"), "utf8")) as Array<string | null>,
    bandKeys,
    sizes: await readI32(path.join(dir, "sizes.i32")),
  };
  if (want.needShingles) out.shingles = await readI32(path.join(dir, "shingles.i32"));
  if (want.needSignatures) out.signatures = await readI32(path.join(dir, "signatures.i32"));
  return out;
}
