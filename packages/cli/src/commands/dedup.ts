import { dedup, dedupJsonl, DedupError, isUtf8Text, sourceOfFile, splitJsonl, textOf, type DedupProgress, type DedupResult, type VerifyMode } from "@sfmed/dedup";
import { AtomicFile, detectFormat, isBadRow, readLines, scanRows } from "@sfmed/schema";
import { UsageError } from "../context.js";
import { intFlag, LIMITS, numberFlag } from "../flags.js";
import { createProgress, type Progress } from "../progress.js";
import type { Register } from "./index.js";
import { guardOutputs, resolveInputs } from "./io-helpers.js";

interface DedupFlags {
  output: string;
  removed?: string;
  clusters?: string;
  report?: string;
  threshold: string;
  numPerm: string;
  ngram: string;
  field?: string;
  idField: string;
  perSource?: boolean;
  sourceField: string;
  keep: string;
  verify: string;
  seed: string;
  threads?: string;
  index?: string;
  against?: string;
}

/** One input record with the text to write back unchanged (the JSONL line, or the record re-serialised). */
interface InputRow {
  file: string;
  line: number;
  record: Record<string, unknown>;
  raw: string;
}

function parseLine(text: string, file: string, line: number): Record<string, unknown> {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (cause) {
    throw new DedupError(`invalid JSON: ${(cause as Error).message}`, { code: "PARSE_ERROR", file, line, cause });
  }
  if (!record || typeof record !== "object" || Array.isArray(record)) throw new DedupError("a record must be a JSON object", { code: "PARSE_ERROR", file, line });
  return record as Record<string, unknown>;
}

/**
 * Records of every input in order. JSONL lines pass through untouched; other formats are written as JSON. With
 * `lazy`, JSONL lines are parsed only when `record` is read (the write pass needs the raw text, and a record only
 * for the clusters file).
 */
async function* readInputs(files: string[], opts: { lazy?: boolean } = {}): AsyncGenerator<InputRow> {
  for (const file of files) {
    const format = await detectFormat(file);
    if (format === "jsonl") {
      for await (const { line, text } of readLines(file)) {
        if (text.trim() === "") continue;
        if (!opts.lazy) {
          yield { file, line, record: parseLine(text, file, line), raw: text };
          continue;
        }
        let parsed: Record<string, unknown> | undefined;
        yield {
          file,
          line,
          raw: text,
          get record() {
            return (parsed ??= parseLine(text, file, line));
          },
        };
      }
    } else {
      if (format === "parquet") {
        // Hub datasets are mostly Parquet shards: rows are written out as JSON lines.
        const { readParquet } = await import("@sfmed/schema/parquet");
        for await (const { line, record } of readParquet(file)) {
          if (!record || typeof record !== "object" || Array.isArray(record)) throw new DedupError("a record must be a JSON object", { code: "PARSE_ERROR", file, line });
          yield { file, line, record: record as Record<string, unknown>, raw: JSON.stringify(record) };
        }
        continue;
      }
      for await (const row of scanRows(file, { format })) {
        if (isBadRow(row)) throw row.error;
        yield { file, line: row.line, record: row.value as Record<string, unknown>, raw: JSON.stringify(row.value) };
      }
    }
  }
}

const PHASE_LABEL: Record<DedupProgress["phase"], string> = {
  signatures: "signatures",
  "per-source": "per-source bands",
  global: "global bands",
  clusters: "clusters",
  index: "index",
};

/** True when every input is JSONL in UTF-8 (the fast path's precondition). */
async function allUtf8Jsonl(files: string[]): Promise<boolean> {
  for (const f of files) if ((await detectFormat(f)) !== "jsonl" || !(await isUtf8Text(f))) return false;
  return true;
}

type CommonOptions = Omit<Parameters<typeof dedup<InputRow>>[1] & object, "text" | "source" | "id">;

/** Any input format: records parsed on this thread, outputs written from a second read of the inputs. */
async function dedupParsed(
  inputs: string[],
  o: DedupFlags,
  common: CommonOptions,
  idOf: (record: Record<string, unknown>, file: string, line: number) => string,
): Promise<{ result: DedupResult; perFile: Array<{ file: string; records: number }> }> {
  const result = await dedup(readInputs(inputs), {
    ...common,
    text: (r) => textOf(r.record, { field: o.field, file: r.file, line: r.line }),
    source: (r) => {
      const v = r.record[o.sourceField];
      return typeof v === "string" ? v : sourceOfFile(r.file);
    },
    id: (r) => idOf(r.record, r.file, r.line),
  });
  const kept = new AtomicFile(o.output);
  const removed = o.removed ? new AtomicFile(o.removed) : undefined;
  const clusters = o.clusters ? new AtomicFile(o.clusters) : undefined;
  const perFile = new Map<string, number>();
  try {
    let i = 0;
    for await (const row of readInputs(inputs, { lazy: true })) {
      if (i >= result.count) throw new DedupError("an input changed while deduplicating", { code: "INPUT_CHANGED", file: row.file, line: row.line });
      perFile.set(row.file, (perFile.get(row.file) ?? 0) + 1);
      const keep = result.keep[i] === 1;
      if (keep) await kept.write(row.raw + "\n");
      else await removed?.write(row.raw + "\n");
      if (clusters && result.cluster[i]! >= 0) await clusters.write(JSON.stringify({ id: idOf(row.record, row.file, row.line), cluster: result.cluster[i], kept: keep }) + "\n");
      i++;
    }
    if (i !== result.count) throw new DedupError("an input changed while deduplicating", { code: "INPUT_CHANGED" });
    await kept.commit();
    await removed?.commit();
    await clusters?.commit();
  } catch (err) {
    await Promise.all([kept.abort(), removed?.abort(), clusters?.abort()]);
    throw err;
  }
  return { result, perFile: [...perFile].map(([file, records]) => ({ file, records })) };
}

export const register: Register = (program, ctx) => {
  program
    .command("dedup")
    .description("remove near-duplicate records (MinHash-LSH over character 5-grams, exact Jaccard verification)")
    .argument("<in...>", "input files (JSONL, JSON, CSV, TSV; gzip ok), read in order")
    .requiredOption("-o, --output <file>", "kept records (JSONL, unchanged and in input order)")
    .option("--removed <file>", "removed records (JSONL)")
    .option("--clusters <file>", 'one line per record in a cluster of two or more: {"id","cluster","kept"}')
    .option("--report <file>", "JSON report: counts, parameters, timings, cluster-size histogram")
    .option("--threshold <t>", "Jaccard similarity of shingle sets that counts as duplicate", "0.8")
    .option("--num-perm <n>", "MinHash permutations", "128")
    .option("--ngram <n>", "shingle length in characters", "5")
    .option("--field <name>", "field to compare (default: text, else dialogue messages)")
    .option("--id-field <name>", "record id field (for --clusters)", "id")
    .option("--per-source", "dedup each source alone first, then all survivors together")
    .option("--source-field <name>", "source field (default source: the input file name)", "source")
    .option("--keep <policy>", "survivor of a cluster: first | longest", "first")
    .option("--verify <mode>", "confirm candidates: exact | estimate | none", "exact")
    .option("--seed <n>", "seed of the MinHash permutations", "1")
    .option("--threads <n>", "worker threads for signatures (0: none; default: all cores)")
    .option("--index <dir>", "save the kept records' index here (for a later --against)")
    .option("--against <dir>", "also remove records that duplicate a saved index")
    .action(async (inputs: string[], o: DedupFlags) => {
      const c = ctx();
      // Bounded here so that a typo is a usage error (exit 2), not a DedupError or a run that never ends (--num-perm 1e9).
      const threshold = numberFlag("--threshold", o.threshold, { min: 0, minExclusive: true, max: 1 });
      const numPerm = intFlag("--num-perm", o.numPerm, { min: 1, max: 8192 });
      const ngram = intFlag("--ngram", o.ngram, { min: 1, max: 1024 });
      const seed = intFlag("--seed", o.seed, { min: 0 });
      const threads = intFlag("--threads", o.threads, { min: 0, max: LIMITS.concurrency });
      if (o.keep !== "first" && o.keep !== "longest") throw new UsageError(`--keep must be first or longest, got "${o.keep}"`);
      if (!["exact", "estimate", "none"].includes(o.verify)) throw new UsageError(`--verify must be exact, estimate or none, got "${o.verify}"`);
      // --index may name the --against folder: the new index is built in a temp folder and swapped in at the end.
      await guardOutputs({
        inputs: { "<in>": inputs },
        outputs: { "-o": o.output, "--removed": o.removed, "--clusters": o.clusters, "--report": o.report, "--index": o.index },
        dirs: ["--index"],
      });
      // hf://datasets/… inputs (globs too) are read from their cached files.
      if (inputs.some((f) => f.startsWith("hf://"))) inputs = await resolveInputs(inputs, { quiet: c.quiet });

      let bar: Progress | undefined;
      let phase = "";
      const onProgress = (p: DedupProgress) => {
        if (p.phase !== phase) {
          bar?.stop();
          phase = p.phase;
          bar = createProgress({ label: `dedup ${PHASE_LABEL[p.phase]}`, total: p.phase === "signatures" ? undefined : p.total, unit: p.phase === "signatures" ? "rec" : "it", quiet: c.quiet });
        }
        bar!.update(p.done);
      };
      const idOf = (record: Record<string, unknown>, file: string, line: number) => {
        const v = record[o.idField];
        return typeof v === "string" || typeof v === "number" ? String(v) : `${file}:${line}`;
      };
      const common = {
        threshold,
        numPerm,
        ngram,
        seed,
        verify: o.verify as VerifyMode,
        keep: o.keep as "first" | "longest",
        perSource: Boolean(o.perSource),
        ...(threads !== undefined ? { threads } : {}),
        ...(o.against ? { against: o.against } : {}),
        ...(o.index ? { saveIndex: o.index } : {}),
        onProgress,
      };
      // UTF-8 JSONL (the usual case) goes the fast way: signature workers read the lines themselves and the
      // outputs are copied line by line from the input bytes; other formats are parsed here.
      let fast = await allUtf8Jsonl(inputs);
      let result: DedupResult | undefined;
      let perFile: Array<{ file: string; records: number }>;
      if (fast) {
        try {
          result = await dedupJsonl(inputs, { ...common, field: o.field, sourceField: o.sourceField, idField: o.idField });
        } catch (err) {
          // The encoding check reads a file's first MiBs only: a GB18030 file that is ASCII for that long
          // fails here and is read again with encoding detection (which decides at its first non-ASCII byte).
          if (!(err instanceof DedupError && err.message.includes("invalid UTF-8"))) throw err;
          c.info(`dedup: ${err.message}; reading the inputs again with encoding detection`);
          fast = false;
        }
      }
      if (fast && result) {
        const res = result;
        bar?.stop();
        const clusters = o.clusters ? new AtomicFile(o.clusters) : undefined;
        try {
          perFile = await splitJsonl(inputs, res, {
            kept: o.output,
            ...(o.removed ? { removed: o.removed } : {}),
            ...(clusters
              ? {
                  onClustered: (i: number, text: string, file: string, line: number) =>
                    clusters.write(JSON.stringify({ id: idOf(parseLine(text, file, line), file, line), cluster: res.cluster[i], kept: res.keep[i] === 1 }) + "\n"),
                }
              : {}),
          });
          await clusters?.commit();
        } catch (err) {
          await clusters?.abort();
          throw err;
        }
      } else {
        ({ result, perFile } = await dedupParsed(inputs, o, common, idOf));
        bar?.stop();
      }
      const report = result.report;
      if (o.report) {
        const full = { inputs: perFile, ...report };
        const w = new AtomicFile(o.report);
        await w.write(JSON.stringify(full, null, 2) + "\n");
        await w.commit();
      }
      for (const w of report.warnings) c.stderr.write(`sfmed dedup: warning: ${w}\n`);
      const n = report.counts;
      c.info(
        `dedup: ${n.input} records → ${n.kept} kept, ${n.removed} removed in ${n.clusters} clusters` +
          (n.removedByIndex ? ` (${n.removedByIndex} matched the index)` : "") +
          ` [${report.params.bands}×${report.params.rows} bands, verify ${report.params.verify}] in ${report.timings.total?.toFixed(1)} s`,
      );
    });
};
