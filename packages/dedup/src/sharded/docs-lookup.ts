/** Doc-index lookups (by shard and doc) and reading a document's text by byte offset for verification. */
import { closeSync, openSync, readSync } from "node:fs";
import { DedupError } from "../errors.js";
import { codePointsInto } from "../minhash-kernel.js";
import { MinHasher } from "../minhasher.js";
import { normalizedCodePointsInto, normalizeText } from "../normalize-text.js";
import { textOf } from "../text-view.js";
import { layout } from "./layout.js";
import { asInt32, asNumbers, ParquetIn } from "./parquet-io.js";
import type { ShardPlan } from "./plan.js";
import { DOC_GROUP, parseRecordLine } from "./sign.js";

/** A document's key: shard · 2^32 + doc (orders like input position). */
export const docKey = (shard: number, doc: number): number => shard * 4294967296 + doc;
export const keyShard = (key: number): number => Math.floor(key / 4294967296);
export const keyDoc = (key: number): number => key % 4294967296;

/** Sorted, without repeats (in place; returns the filled part). */
export function sortUnique(x: Float64Array): Float64Array {
  x.sort();
  let m = 0;
  for (let i = 0; i < x.length; i++) if (i === 0 || x[i] !== x[m - 1]) x[m++] = x[i]!;
  return x.subarray(0, m);
}

/** Doc-index columns of the looked-up documents, in the order of the keys asked for. */
export interface DocInfoColumns {
  file: Int32Array;
  offset: Float64Array;
  length: Int32Array;
  textLength: Int32Array;
  shingles: Int32Array;
  source?: Array<string | null>;
  id?: Array<string | null>;
}

/**
 * Look up documents by key (sorted ascending, unique) in the doc indexes, reading only the row groups that hold
 * them. Memory: the answer plus one row group.
 */
export async function lookupDocs(workdir: string, keys: Float64Array, opts: { names?: boolean } = {}): Promise<DocInfoColumns> {
  const n = keys.length;
  const out: DocInfoColumns = {
    file: new Int32Array(n),
    offset: new Float64Array(n),
    length: new Int32Array(n),
    textLength: new Int32Array(n),
    shingles: new Int32Array(n),
    ...(opts.names ? { source: new Array<string | null>(n), id: new Array<string | null>(n) } : {}),
  };
  const cols = ["file", "offset", "length", "text_length", "shingles", ...(opts.names ? ["source", "id"] : [])];
  let i = 0;
  while (i < n) {
    const shard = keyShard(keys[i]!);
    const pq = await ParquetIn.open(layout.docs(workdir, shard));
    while (i < n && keyShard(keys[i]!) === shard) {
      const group = Math.floor(keyDoc(keys[i]!) / DOC_GROUP);
      const g = await pq.readGroup(cols, group);
      const file = asInt32(g.file!);
      const offset = asNumbers(g.offset!);
      const length = asInt32(g.length!);
      const tl = asInt32(g.text_length!);
      const sh = asInt32(g.shingles!);
      const base = group * DOC_GROUP;
      while (i < n && keyShard(keys[i]!) === shard && Math.floor(keyDoc(keys[i]!) / DOC_GROUP) === group) {
        const r = keyDoc(keys[i]!) - base;
        if (r >= file.length) throw new DedupError(`doc ${keyDoc(keys[i]!)} is not in the doc index`, { code: "CORRUPT_WORKDIR", file: pq.file });
        out.file[i] = file[r]!;
        out.offset[i] = offset[r]!;
        out.length[i] = length[r]!;
        out.textLength[i] = tl[r]!;
        out.shingles[i] = sh[r]!;
        if (out.source) out.source[i] = (g.source![r] as string | null) ?? null;
        if (out.id) out.id[i] = (g.id![r] as string | null) ?? null;
        i++;
      }
    }
  }
  return out;
}

/** Reads documents by byte offset and returns their shingle sets, as the signature stage computed them. */
export class DocReader {
  private readonly fds = new Map<number, number>();
  private readonly hasher: MinHasher;
  private buf = Buffer.allocUnsafe(1 << 16);
  private cps: Int32Array<ArrayBufferLike> = new Int32Array(1024);

  constructor(private readonly plan: ShardPlan) {
    const p = plan.params;
    this.hasher = new MinHasher({ numPerm: p.numPerm, seed: p.seed, ngram: p.ngram, sketch: p.sketch ?? "oph" });
  }

  /** The shingle set (a fresh copy) of the record at `offset` in input `file`. */
  shingleSet(file: number, offset: number, length: number): Int32Array {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      fd = openSync(this.plan.inputs[file]!.file, "r");
      this.fds.set(file, fd);
    }
    if (this.buf.length < length) this.buf = Buffer.allocUnsafe(2 * length);
    const got = readSync(fd, this.buf, 0, length, offset);
    const name = this.plan.inputs[file]!.file;
    if (got !== length) throw new DedupError(`short read at byte ${offset}: the input changed`, { code: "INPUT_CHANGED", file: name });
    const rec = parseRecordLine(this.buf.subarray(0, length), name, offset);
    const text = textOf(rec, { field: this.plan.params.field });
    if (this.cps.length < text.length + 64) this.cps = new Int32Array(Math.max(text.length + 64, 2 * this.cps.length));
    let len = normalizedCodePointsInto(text, this.cps);
    if (len < 0) [len, this.cps] = codePointsInto(normalizeText(text), this.cps);
    return this.hasher.shingleSetOfCodePoints(this.cps, len).slice();
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
