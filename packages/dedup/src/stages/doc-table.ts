// Read/sign stage, storage side: per-document columns and the spill files the signature batches land in.
import path from "node:path";
import { GrowArray, SmallIntColumn } from "../grow-array.js";
import type { LoadedIndex } from "../index-store.js";
import type { BatchResult } from "../signature-batch.js";
import { SpillFile } from "../spill-file.js";
import type { DedupParams } from "./params.js";

/** Documents per stored shingle-set offset (see `blockStarts`). */
const OFFSET_BLOCK = 64;

/**
 * Everything the later stages read, in document space: index documents (`0 … M−1`) first, then input records
 * (`M … N−1`, input position `d − M`).
 */
export interface DocTable {
  /** Index documents. */
  M: number;
  /** Input records. */
  count: number;
  /** M + count. */
  N: number;
  /** Shingle-set size per document; 0 = empty text. */
  sizes: Uint8Array | Uint16Array | Int32Array;
  lengths: Int32Array;
  /** 1 + source number; 0 = index document. */
  sourceOf: Uint8Array | Uint16Array | Int32Array;
  sourceNames: string[];
  scores: Float64Array | undefined;
  ids: Array<string | null>;
  /** 1 where the normalised text is empty (never a candidate). */
  empty: Uint8Array;
  /** Empty input records. */
  emptyCount: number;
  /** Per band: N × (hi, lo) Int32 keys. */
  bandSpills: SpillFile[];
  shingleSpill: SpillFile | undefined;
  sigSpill: SpillFile | undefined;
  /** Position of document `d`'s shingle set in `shingleSpill`. */
  shingleStart(d: number): number;
}

/** Collects documents as they stream in (index first, then batches in input order); `finish` seals them. */
export class DocCollector {
  readonly bandSpills: SpillFile[] = [];
  readonly shingleSpill: SpillFile | undefined;
  readonly sigSpill: SpillFile | undefined;
  private readonly sizes = new SmallIntColumn(); // 2 bytes per document below 65,536
  // start of every 64th document's shingle set in shingleSpill; the others add up sizes from there (saves 8 bytes
  // per document)
  private readonly blockStarts = new GrowArray(Float64Array);
  private readonly lengths = new GrowArray(Int32Array);
  private readonly sourceOf = new SmallIntColumn();
  private readonly scores: GrowArray<Float64Array> | undefined;
  private readonly ids: Array<string | null> = [];
  private readonly sourceNames: string[] = [];
  private readonly sourceIndex = new Map<string | undefined, number>();
  private shingleTotal = 0;
  private indexDocs = 0;
  /** Input records added / signatures received (they must agree at the end). */
  count = 0;
  batched = 0;

  constructor(
    private readonly p: DedupParams,
    work: string,
    withScores: boolean,
  ) {
    for (let b = 0; b < p.bands; b++) this.bandSpills.push(new SpillFile(path.join(work, `band-${b}.i32`), 1 << 14));
    if (p.verify === "exact") this.shingleSpill = new SpillFile(path.join(work, "shingles.i32"), 1 << 18);
    if (p.verify === "estimate") this.sigSpill = new SpillFile(path.join(work, "signatures.i32"), 1 << 18);
    this.scores = withScores ? new GrowArray(Float64Array) : undefined;
  }

  private pushSize(s: number): void {
    if (this.sizes.length % OFFSET_BLOCK === 0) this.blockStarts.push(this.shingleTotal);
    this.sizes.push(s);
    this.shingleTotal += s;
  }

  /** The documents of a saved index (before any input record). */
  addIndex(idx: LoadedIndex): void {
    const n = idx.manifest.count;
    this.indexDocs = n;
    for (let b = 0; b < this.p.bands; b++) this.bandSpills[b]!.append(idx.bandKeys[b]!);
    if (this.shingleSpill && idx.shingles) this.shingleSpill.append(idx.shingles);
    if (this.sigSpill && idx.signatures) this.sigSpill.append(idx.signatures);
    for (let i = 0; i < n; i++) {
      this.pushSize(idx.sizes[i]!);
      if (this.p.needLengths) this.lengths.push(0);
      this.sourceOf.push(0);
      this.scores?.push(Number.NaN);
      if (this.p.needIds) this.ids.push(idx.ids[i] ?? null);
    }
  }

  /** One input record's columns (its signature arrives with its batch). */
  readonly addRecord = (src: string | undefined, length: number, id: string | null, score: number): void => {
    this.count++;
    if (this.p.needLengths) this.lengths.push(length);
    let si = this.sourceIndex.get(src);
    if (si === undefined) {
      si = this.sourceNames.length;
      this.sourceIndex.set(src, si);
      this.sourceNames.push(src ?? "");
    }
    this.sourceOf.push(si + 1);
    if (this.scores) this.scores.push(score);
    if (this.p.needIds) this.ids.push(id);
  };

  /** A signature batch, in input order: band keys go band by band to their spill files. */
  readonly addBatch = (r: BatchResult): void => {
    const bands = this.p.bands;
    const width = 2 * bands;
    const part = new Int32Array(2 * r.count);
    for (let b = 0; b < bands; b++) {
      for (let i = 0; i < r.count; i++) {
        part[2 * i] = r.bandKeys[i * width + 2 * b]!;
        part[2 * i + 1] = r.bandKeys[i * width + 2 * b + 1]!;
      }
      this.bandSpills[b]!.append(part);
    }
    for (let i = 0; i < r.count; i++) this.pushSize(r.sizes[i]!);
    this.batched += r.count;
    if (this.shingleSpill && r.shingles) this.shingleSpill.append(r.shingles);
    if (this.sigSpill && r.signatures) this.sigSpill.append(r.signatures);
  };

  /** Flush the spills and seal the columns as exact-size arrays (the growable buffers' spare room is released). */
  finish(): DocTable {
    for (const s of this.bandSpills) s.flush();
    this.shingleSpill?.flush();
    this.sigSpill?.flush();
    const M = this.indexDocs;
    const N = M + this.count;
    const sizes = this.sizes.take();
    const blocks = this.blockStarts.take();
    const empty = new Uint8Array(N);
    let emptyCount = 0;
    for (let d = 0; d < N; d++) {
      if (sizes[d] === 0) {
        empty[d] = 1;
        if (d >= M) emptyCount++;
      }
    }
    return {
      M,
      count: this.count,
      N,
      sizes,
      lengths: this.lengths.take(),
      sourceOf: this.sourceOf.take(),
      sourceNames: this.sourceNames,
      scores: this.scores?.take(),
      ids: this.ids,
      empty,
      emptyCount,
      bandSpills: this.bandSpills,
      shingleSpill: this.shingleSpill,
      sigSpill: this.sigSpill,
      shingleStart: (d) => {
        const first = d - (d % OFFSET_BLOCK);
        let at = blocks[first / OFFSET_BLOCK]!;
        for (let i = first; i < d; i++) at += sizes[i]!;
        return at;
      },
    };
  }

  close(): void {
    for (const s of this.bandSpills) s.close();
    this.shingleSpill?.close();
    this.sigSpill?.close();
  }
}
