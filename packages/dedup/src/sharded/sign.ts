/** Stage 1, `sign`: input shard i → the doc index and sorted runs of (band hash, doc) per band. */
import { stat } from "node:fs/promises";
import { isUtf8 } from "node:buffer";
import { sourceOfFile } from "../dedup-jsonl.js";
import { DedupError } from "../errors.js";
import { createBatchComputer } from "../signature-batch.js";
import { textOf } from "../text-view.js";
import { layout, type TaskMarker } from "./layout.js";
import { ParquetOut, writeParquetColumns, type ParquetSchema } from "./parquet-io.js";
import type { ShardPlan } from "./plan.js";
import { shardLines } from "./shard-lines.js";

/** Rows per row group of a doc index: doc d of a shard is in row group ⌊d / DOC_GROUP⌋. */
export const DOC_GROUP = 1 << 16;

export const DOCS_SCHEMA: ParquetSchema = [
  ["shard", "INT32"],
  ["doc", "INT32"],
  ["file", "INT32"],
  ["offset", "INT64"],
  ["length", "INT32"],
  ["text_length", "INT32"],
  ["shingles", "INT32"],
  ["source", "STRING"],
  ["id", "STRING"],
];

export const BAND_SCHEMA: ParquetSchema = [
  ["hash_hi", "INT32", { stats: true, compress: false }],
  ["hash_lo", "INT32", { compress: false }],
  ["shard", "INT32"],
  ["doc", "INT32"],
];

const BATCH = 1024;

/** A record's line → its JSON object, or a DedupError naming the file and byte offset. */
export function parseRecordLine(bytes: Uint8Array, file: string, offset: number): Record<string, unknown> {
  if (!isUtf8(bytes)) throw new DedupError(`invalid UTF-8 bytes in the line at byte ${offset}`, { code: "INVALID_UTF8", file });
  let record: unknown;
  try {
    record = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch (cause) {
    throw new DedupError(`invalid JSON in the line at byte ${offset}: ${(cause as Error).message}`, { code: "PARSE_ERROR", file, cause });
  }
  if (!record || typeof record !== "object" || Array.isArray(record)) throw new DedupError(`the line at byte ${offset} is not a JSON object`, { code: "PARSE_ERROR", file });
  return record as Record<string, unknown>;
}

/** Columns of the doc index, one row group at a time. */
class DocColumns {
  constructor(readonly shard: number) {}
  doc: number[] = [];
  file: number[] = [];
  offset: number[] = [];
  length: number[] = [];
  textLength: number[] = [];
  shingles: number[] = [];
  source: Array<string | null> = [];
  id: Array<string | null> = [];
  flush(out: ParquetOut): void {
    if (!this.doc.length) return;
    out.writeGroup([
      new Int32Array(this.doc.length).fill(this.shard),
      Int32Array.from(this.doc),
      Int32Array.from(this.file),
      BigInt64Array.from(this.offset, (v) => BigInt(v)),
      Int32Array.from(this.length),
      Int32Array.from(this.textLength),
      Int32Array.from(this.shingles),
      this.source,
      this.id,
    ]);
    Object.assign(this, new DocColumns(this.shard));
  }
}

/**
 * Order of a run's rows for one band: by (hash_hi, hash_lo) as signed 32-bit values, row order kept among equal
 * keys. A stable LSD radix sort on hash_hi (two 16-bit passes, sign bit flipped), then the rare runs of equal
 * hash_hi sorted by hash_lo.
 */
export function sortedOrder(hi: Int32Array, lo: Int32Array, n: number): Int32Array {
  const tmp = new Int32Array(n);
  const idx = new Int32Array(n);
  const count = new Int32Array(65537);
  for (let i = 0; i < n; i++) count[(hi[i]! & 0xffff) + 1]!++;
  for (let i = 0; i < 65536; i++) count[i + 1]! += count[i]!;
  for (let i = 0; i < n; i++) tmp[count[hi[i]! & 0xffff]!++] = i;
  count.fill(0);
  for (let i = 0; i < n; i++) count[((hi[i]! >>> 16) ^ 0x8000) + 1]!++;
  for (let i = 0; i < 65536; i++) count[i + 1]! += count[i]!;
  for (let j = 0; j < n; j++) {
    const d = tmp[j]!;
    idx[count[(hi[d]! >>> 16) ^ 0x8000]!++] = d;
  }
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && hi[idx[j]!] === hi[idx[i]!]) j++;
    if (j - i > 1) idx.subarray(i, j).sort((a, b) => lo[a]! - lo[b]! || a - b);
    i = j;
  }
  return idx;
}

/** Sort one band of a run and write it. */
async function writeRun(file: string, keys: Int32Array, docs: Int32Array, n: number, width: number, band: number, shard: number): Promise<number> {
  const hi = new Int32Array(n);
  const lo = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    hi[i] = keys[i * width + 2 * band]!;
    lo[i] = keys[i * width + 2 * band + 1]!;
  }
  const idx = sortedOrder(hi, lo, n);
  const cols = [new Int32Array(n), new Int32Array(n), new Int32Array(n).fill(shard), new Int32Array(n)] as const;
  for (let i = 0; i < n; i++) {
    const j = idx[i]!;
    cols[0][i] = hi[j]!;
    cols[1][i] = lo[j]!;
    cols[3][i] = docs[j]!;
  }
  await writeParquetColumns(file, BAND_SCHEMA, cols);
  return (await stat(file)).size;
}

/** A line's text (by `field`), source (`sourceField`, else the file's name) and id (`idField`, else null). */
function recordView(bytes: Uint8Array, file: string, offset: number, p: ShardPlan["params"]): { text: string; source: string; id: string | null } {
  const rec = parseRecordLine(bytes, file, offset);
  let text: string;
  try {
    text = textOf(rec, { field: p.field });
  } catch (err) {
    if (err instanceof DedupError) throw new DedupError(`the record at byte ${offset}: ${err.message}`, { code: err.code, file, field: err.field });
    throw err;
  }
  const s = rec[p.sourceField];
  const id = rec[p.idField];
  return { text, source: typeof s === "string" ? s : sourceOfFile(file), id: typeof id === "string" ? id : typeof id === "number" ? String(id) : null };
}

/** The (band keys, doc) rows of a shard gathered into runs of at most `runDocs` documents, each written sorted per band. */
class BandRuns {
  private keys: Int32Array;
  private docs: Int32Array;
  private inRun = 0;
  runs = 0;
  bytesWritten = 0;

  constructor(
    private readonly workdir: string,
    private readonly shard: number,
    private readonly bands: number,
    private readonly runDocs: number,
  ) {
    this.keys = new Int32Array(Math.min(runDocs, 4096) * 2 * bands);
    this.docs = new Int32Array(Math.min(runDocs, 4096));
  }

  /** Add document `doc` with its `2 × bands` band keys; writes the run once it holds `runDocs` documents. */
  async add(bandKeys: Int32Array, doc: number): Promise<void> {
    const width = 2 * this.bands;
    if (this.inRun === this.docs.length) {
      const grow = Math.min(this.runDocs, 2 * this.docs.length);
      const k = new Int32Array(grow * width);
      k.set(this.keys);
      this.keys = k;
      const d = new Int32Array(grow);
      d.set(this.docs);
      this.docs = d;
    }
    this.keys.set(bandKeys, this.inRun * width);
    this.docs[this.inRun++] = doc;
    if (this.inRun === this.runDocs) await this.flush();
  }

  /** Write the open run, one sorted file per band. */
  async flush(): Promise<void> {
    if (!this.inRun) return;
    for (let b = 0; b < this.bands; b++) {
      this.bytesWritten += await writeRun(layout.bandRun(this.workdir, b, this.shard, this.runs), this.keys, this.docs, this.inRun, 2 * this.bands, b, this.shard);
    }
    this.runs++;
    this.inRun = 0;
  }
}

/** Run the sign task of shard `shard`. Returns the marker to write once everything is in place. */
export async function signShard(workdir: string, plan: ShardPlan, shard: number): Promise<Omit<TaskMarker, "seconds" | "peakRssBytes">> {
  const p = plan.params;
  const files = plan.inputs.map((f) => f.file);
  const compute = createBatchComputer({ numPerm: p.numPerm, seed: p.seed, ngram: p.ngram, sketch: p.sketch ?? "oph", bands: p.bands, rows: p.rows, keepShingles: false, keepSignatures: false });
  const width = 2 * p.bands;
  const runs = new BandRuns(workdir, shard, p.bands, p.runDocs);
  let count = 0;
  let empty = 0;
  const docsOut = await ParquetOut.create(layout.docs(workdir, shard), DOCS_SCHEMA);
  const cols = new DocColumns(shard);
  let texts: string[] = [];
  let firstOfBatch = 0;

  const computeBatch = async () => {
    if (!texts.length) return;
    const r = compute(texts);
    for (let i = 0; i < r.count; i++) {
      const size = r.sizes[i]!;
      cols.shingles.push(size);
      if (size === 0) empty++; // empty text: never a candidate, no band rows
      else await runs.add(r.bandKeys.subarray(i * width, (i + 1) * width), firstOfBatch + i);
    }
    firstOfBatch += r.count;
    texts = [];
    if (cols.doc.length >= DOC_GROUP) cols.flush(docsOut);
  };

  try {
    for await (const line of shardLines(files, plan.shards[shard]!)) {
      const file = files[line.file]!;
      const { text, source, id } = recordView(line.bytes, file, line.offset, p);
      cols.doc.push(count++);
      cols.file.push(line.file);
      cols.offset.push(line.offset);
      cols.length.push(line.bytes.length);
      cols.textLength.push(text.length);
      cols.source.push(source);
      cols.id.push(id);
      texts.push(text);
      // doc index row groups hold exactly DOC_GROUP rows: a batch never crosses one
      if (texts.length >= BATCH || cols.doc.length >= DOC_GROUP) await computeBatch();
    }
    await computeBatch();
    await runs.flush();
    cols.flush(docsOut);
    await docsOut.commit();
  } catch (err) {
    await docsOut.abort();
    throw err;
  }
  const bytesWritten = runs.bytesWritten + (await stat(layout.docs(workdir, shard))).size;
  return { stage: "sign", task: shard, bytesWritten, stats: { docs: count, empty, runs: runs.runs }, data: { docs: count, runs: runs.runs } };
}
