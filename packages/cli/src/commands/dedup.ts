import { dedupFiles, type DedupFilesOptions, type DedupProgress } from "@sfmed/dedup";
import { enumFlag, intFlag, LIMITS, numberFlag } from "../flags.js";
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
  sketch: string;
  threads?: string;
  index?: string;
  against?: string;
}

const PHASE_LABEL: Record<DedupProgress["phase"], string> = {
  signatures: "signatures",
  "per-source": "per-source bands",
  global: "global bands",
  clusters: "clusters",
  index: "index",
  write: "write",
};

/** Flags → options; bounded here so that a typo is a usage error (exit 2), not a run that never ends (--num-perm 1e9). */
function optionsOf(o: DedupFlags): Omit<DedupFilesOptions, "onProgress" | "onFallback"> {
  const threads = intFlag("--threads", o.threads, { min: 0, max: LIMITS.concurrency });
  return {
    output: o.output,
    removed: o.removed,
    clusters: o.clusters,
    report: o.report,
    threshold: numberFlag("--threshold", o.threshold, { min: 0, minExclusive: true, max: 1 }),
    numPerm: intFlag("--num-perm", o.numPerm, { min: 1, max: 8192 }),
    ngram: intFlag("--ngram", o.ngram, { min: 1, max: 1024 }),
    seed: intFlag("--seed", o.seed, { min: 0 }),
    sketch: enumFlag("--sketch", o.sketch, ["oph", "minhash"] as const),
    keep: enumFlag("--keep", o.keep, ["first", "longest"] as const),
    verify: enumFlag("--verify", o.verify, ["exact", "estimate", "none"] as const),
    perSource: Boolean(o.perSource),
    field: o.field,
    sourceField: o.sourceField,
    idField: o.idField,
    ...(threads !== undefined ? { threads } : {}),
    ...(o.against ? { against: o.against } : {}),
    ...(o.index ? { saveIndex: o.index } : {}),
  };
}

export const register: Register = (program, ctx) => {
  program
    .command("dedup")
    .description("remove near-duplicate records (MinHash-LSH over character 5-grams, exact Jaccard verification)")
    .argument("<in...>", "input files (JSONL, JSON, CSV, TSV, Parquet; gzip ok), read in order")
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
    .option("--sketch <kind>", "signature sketch: oph (one-permutation hashing, densified; faster) | minhash (the paper's k permutations)", "oph")
    .option("--threads <n>", "worker threads for signatures (0: none; default: all cores)")
    .option("--index <dir>", "save the kept records' index here (for a later --against)")
    .option("--against <dir>", "also remove records that duplicate a saved index")
    .action(async (inputs: string[], o: DedupFlags) => {
      const c = ctx();
      const options = optionsOf(o);
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
      const onFallback = (err: Error) => c.info(`dedup: ${err.message}; reading the inputs again with encoding detection`);
      let result: Awaited<ReturnType<typeof dedupFiles>>;
      try {
        result = await dedupFiles(inputs, { ...options, onProgress, onFallback });
      } finally {
        bar?.stop();
      }
      const { report } = result;
      for (const w of report.warnings) c.stderr.write(`sfmed dedup: warning: ${w}\n`);
      const n = report.counts;
      c.info(
        `dedup: ${n.input} records → ${n.kept} kept, ${n.removed} removed in ${n.clusters} clusters` +
          (n.removedByIndex ? ` (${n.removedByIndex} matched the index)` : "") +
          ` [${report.params.sketch} ${report.params.bands}×${report.params.rows} bands, verify ${report.params.verify}] in ${report.timings.total?.toFixed(1)} s`,
      );
    });
};
