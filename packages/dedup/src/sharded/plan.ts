/** `planShards`: cut the inputs into N byte ranges of whole lines and fix every parameter in `plan.json`. */
import { open, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { atomicWrite } from "@sfmed/schema/io";
import { DedupError } from "../errors.js";
import { lshParams } from "../lsh-params.js";
import { hashSchemeOf, type Sketch } from "../minhasher.js";
import { NORMALIZATION } from "../normalize-text.js";
import { layout, type Stage } from "./layout.js";

/** Survivor policy of a sharded run: as `dedup`'s `keep`, with the comparator given as `byPriority` options. */
export type ShardedKeep = "first" | "longest" | { priority: { sources?: string[]; length?: boolean; id?: boolean } };

export interface ShardedOptions {
  /** Number of input shards (tasks of the sign and filter stages). */
  shards: number;
  /** @default 0.8 */
  threshold?: number;
  /** @default 128 */
  numPerm?: number;
  /** @default 5 */
  ngram?: number;
  /** @default 1 */
  seed?: number;
  /** Signature sketch, as `dedup`'s `sketch`; `"minhash"` restores the paper's k-permutation MinHash. @default "oph" */
  sketch?: Sketch;
  bands?: number;
  rows?: number;
  /** `exact` (default) or `none`. */
  verify?: "exact" | "none";
  /** @default "first" */
  keep?: ShardedKeep;
  field?: string;
  /** @default "source" */
  sourceField?: string;
  /** @default "id" */
  idField?: string;
  /** Tasks per band in the bucket stage, each a slice of the band-hash range. @default 1 */
  hashRanges?: number;
  /** Documents per sorted run the sign stage writes (bounds its memory). @default 262144 */
  runDocs?: number;
  /** @default 1000 */
  giantClusterSize?: number;
}

export interface InputFile {
  file: string;
  size: number;
  mtimeMs: number;
}

/** A contiguous byte range of one input: [start, end), starting at a line start, ending after a line break or at EOF. */
export interface Segment {
  file: number;
  start: number;
  end: number;
}

export interface ShardPlan {
  format: "sfmed-dedup-sharded";
  version: 1;
  inputs: InputFile[];
  shards: Segment[][];
  params: {
    threshold: number;
    numPerm: number;
    ngram: number;
    seed: number;
    /** Absent in plans made before the switch existed: those are `"oph"`. */
    sketch?: Sketch;
    bands: number;
    rows: number;
    recallAtThreshold: number;
    verify: "exact" | "none";
    keep: ShardedKeep;
    field: string | undefined;
    sourceField: string;
    idField: string;
    hashRanges: number;
    runDocs: number;
    giantClusterSize: number;
    normalization: string;
    hashScheme: string;
  };
  /** Tasks per stage (the size of each job array). */
  tasks: Record<Stage, number>;
}

const bad = (field: string, message: string) => new DedupError(message, { code: "BAD_OPTION", field });

function checkInt(field: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v < min || v > max) throw bad(field, `${field} must be an integer in [${min}, ${max}], got ${v}`);
  return v;
}

function resolveParams(o: ShardedOptions): ShardPlan["params"] {
  const threshold = o.threshold ?? 0.8;
  if (!(threshold > 0 && threshold <= 1)) throw bad("threshold", `threshold must be in (0, 1], got ${threshold}`);
  const numPerm = checkInt("numPerm", o.numPerm ?? 128, 1, 8192);
  const ngram = checkInt("ngram", o.ngram ?? 5, 1, 1024);
  const seed = checkInt("seed", o.seed ?? 1, 0);
  const sketch = o.sketch ?? "oph";
  if (sketch !== "oph" && sketch !== "minhash") throw bad("sketch", `sketch must be oph or minhash, got ${String(sketch)}`);
  const verify = o.verify ?? "exact";
  if (verify !== "exact" && verify !== "none") throw bad("verify", `verify must be exact or none in a sharded run, got ${String(verify)}`);
  const keep = o.keep ?? "first";
  if (keep !== "first" && keep !== "longest" && !(typeof keep === "object" && keep && "priority" in keep)) {
    throw bad("keep", `keep must be first, longest or { priority }, got ${String(keep)}`);
  }
  let bands: number;
  let rows: number;
  let recallAtThreshold: number;
  if (o.bands !== undefined || o.rows !== undefined) {
    bands = o.bands ?? 0;
    rows = o.rows ?? 0;
    if (!(Number.isInteger(bands) && Number.isInteger(rows) && bands > 0 && rows > 0 && bands * rows <= numPerm)) {
      throw bad("bands", `bands × rows must be positive and at most numPerm (${numPerm}), got ${bands}×${rows}`);
    }
    recallAtThreshold = 1 - Math.pow(1 - Math.pow(threshold, rows), bands);
  } else ({ bands, rows, recallAtThreshold } = lshParams({ threshold, numPerm }));
  return {
    threshold,
    numPerm,
    ngram,
    seed,
    sketch,
    bands,
    rows,
    recallAtThreshold,
    verify,
    keep,
    field: o.field,
    sourceField: o.sourceField ?? "source",
    idField: o.idField ?? "id",
    hashRanges: checkInt("hashRanges", o.hashRanges ?? 1, 1, 65536),
    runDocs: checkInt("runDocs", o.runDocs ?? 1 << 18, 1, 1 << 26),
    giantClusterSize: checkInt("giantClusterSize", o.giantClusterSize ?? 1000, 1),
    normalization: NORMALIZATION,
    hashScheme: hashSchemeOf(sketch),
  };
}

/** The first line start at or after `pos` (the byte after the next line break before `size`). */
async function nextLineStart(file: string, pos: number, size: number): Promise<number> {
  if (pos <= 0) return 0;
  const fh = await open(file, "r");
  try {
    const buf = Buffer.allocUnsafe(1 << 16);
    // a cut inside a line moves to its end; a cut right after a line break stays
    let at = pos - 1;
    while (at < size) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, at);
      if (bytesRead === 0) break;
      const nl = buf.subarray(0, bytesRead).indexOf(10);
      if (nl >= 0) return at + nl + 1;
      at += bytesRead;
    }
    return size;
  } finally {
    await fh.close();
  }
}

/** Cut the inputs into `n` shards of about equal bytes, each a list of segments of whole lines, in input order. */
async function cutShards(inputs: InputFile[], n: number): Promise<Segment[][]> {
  const total = inputs.reduce((s, f) => s + f.size, 0);
  // global cut positions (bytes before the cut, across all files), each moved to a line start
  const cuts: Array<{ file: number; pos: number }> = [{ file: 0, pos: 0 }];
  for (let k = 1; k < n; k++) {
    let target = Math.floor((total * k) / n);
    let f = 0;
    while (f < inputs.length - 1 && target >= inputs[f]!.size) target -= inputs[f++]!.size;
    const pos = await nextLineStart(inputs[f]!.file, Math.min(target, inputs[f]!.size), inputs[f]!.size);
    const prev = cuts[cuts.length - 1]!;
    // never go back: an earlier cut inside the same long line wins
    cuts.push(f < prev.file || (f === prev.file && pos < prev.pos) ? prev : { file: f, pos });
  }
  cuts.push({ file: inputs.length - 1, pos: inputs[inputs.length - 1]!.size });
  const shards: Segment[][] = [];
  for (let k = 0; k < n; k++) {
    const a = cuts[k]!;
    const b = cuts[k + 1]!;
    const segs: Segment[] = [];
    for (let f = a.file; f <= b.file; f++) {
      const start = f === a.file ? a.pos : 0;
      const end = f === b.file ? b.pos : inputs[f]!.size;
      if (end > start) segs.push({ file: f, start, end });
    }
    shards.push(segs);
  }
  return shards;
}

/**
 * Plan a sharded dedup of UTF-8 JSONL files into `workdir`: the inputs (absolute paths, sizes, mtimes), their cut
 * into `shards` byte ranges of whole lines, and every parameter, written atomically to `workdir/plan.json`. Stages
 * read nothing else, so any machine that sees the same paths can run any task.
 *
 * @throws DedupError `BAD_OPTION` for bad options, `BAD_INPUT` for a missing, gzipped or non-file input.
 */
export async function planShards(inputs: readonly string[], workdir: string, options: ShardedOptions): Promise<ShardPlan> {
  const shards = checkInt("shards", options.shards, 1, 1 << 20);
  if (inputs.length === 0) throw bad("inputs", "at least one input file is needed");
  const params = resolveParams(options);
  const files: InputFile[] = [];
  for (const f of inputs) {
    if (/\.gz$/i.test(f)) throw new DedupError("gzipped inputs cannot be read by byte offset; decompress them first", { code: "BAD_INPUT", file: f });
    const abs = path.resolve(f);
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(abs);
    } catch (cause) {
      throw new DedupError("input not found", { code: "BAD_INPUT", file: f, cause });
    }
    if (!st.isFile()) throw new DedupError("input is not a regular file", { code: "BAD_INPUT", file: f });
    files.push({ file: abs, size: st.size, mtimeMs: st.mtimeMs });
  }
  const plan: ShardPlan = {
    format: "sfmed-dedup-sharded",
    version: 1,
    inputs: files,
    shards: await cutShards(files, shards),
    params,
    tasks: { sign: shards, bucket: params.bands * params.hashRanges, cluster: 1, filter: shards },
  };
  await atomicWrite(layout.plan(workdir), [JSON.stringify(plan, null, 2) + "\n"]);
  return plan;
}

/** Read `workdir/plan.json`. @throws DedupError `NO_PLAN` when there is none or it is not a plan. */
export async function readPlan(workdir: string): Promise<ShardPlan> {
  let text: string;
  try {
    text = await readFile(layout.plan(workdir), "utf8");
  } catch (cause) {
    throw new DedupError("no plan.json: run `plan` first", { code: "NO_PLAN", file: layout.plan(workdir), cause });
  }
  const plan = JSON.parse(text) as ShardPlan;
  if (plan.format !== "sfmed-dedup-sharded" || plan.version !== 1) throw new DedupError("not a sharded-dedup plan", { code: "NO_PLAN", file: layout.plan(workdir) });
  return plan;
}

/** @throws DedupError `INPUT_CHANGED` when an input's size or mtime differs from the plan's. */
export async function checkInputs(plan: ShardPlan, files?: readonly number[]): Promise<void> {
  for (const i of files ?? plan.inputs.map((_, k) => k)) {
    const f = plan.inputs[i]!;
    const st = await stat(f.file).catch(() => undefined);
    if (!st || st.size !== f.size || st.mtimeMs !== f.mtimeMs) throw new DedupError("input changed since the plan was made", { code: "INPUT_CHANGED", file: f.file });
  }
}
