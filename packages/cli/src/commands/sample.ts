import { reservoirSample } from "@sfmed/eval-metrics";
import { detectFormat, formatFromName, writeCsv, writeJsonArray, writeJsonl, type FileFormat } from "@sfmed/schema";
import { UsageError } from "../context.js";
import { intFlag } from "../flags.js";
import { counted, guardOutputs, parseEncoding, readAny, recordBar, requireFile, resolveInput, writeJsonlTo } from "./io-helpers.js";
import type { Register } from "./index.js";

const EXTENSIONS: Record<FileFormat, string> = {
  jsonl: ".jsonl, .ndjson or .jsonl.gz",
  json: ".json",
  csv: ".csv",
  tsv: ".tsv",
  parquet: ".parquet",
};

/** The input's container format (`.json` sniffed: MedicalGPT ships JSONL under that name). */
async function inputFormat(file: string): Promise<FileFormat> {
  return formatFromName(file) === "parquet" ? "parquet" : detectFormat(file);
}

/** Write the sample in the input's format: JSONL stays JSONL even under a `.json` name, as the input was. */
async function writeSample(file: string, format: FileFormat, records: unknown[]): Promise<void> {
  const rows = records as Record<string, unknown>[];
  if (format === "jsonl") await writeJsonl(file, records);
  else if (format === "json") await writeJsonArray(file, records);
  else if (format === "csv") await writeCsv(file, rows);
  else if (format === "tsv") await writeCsv(file, rows, { delimiter: "\t" });
  else {
    const { writeParquet } = await import("@sfmed/schema/parquet");
    await writeParquet(file, rows);
  }
}

export const register: Register = (program, ctx) => {
  program
    .command("sample")
    .description("a uniform random sample of N records (reservoir sampling: one pass, memory for N records), reproducible from --seed")
    .argument("<in>", "records: JSONL (plain or .gz), JSON array, CSV, TSV or Parquet; - reads stdin")
    .requiredOption("-n, --n <count>", "records to keep (all of them when the input has fewer)")
    .option("--seed <n>", "seed of the sampler: the same seed and input give the same sample", "0")
    .requiredOption("-o, --output <file>", "output file in the input's format (written atomically), or - for JSONL on stdout; records keep their input order")
    .option("--encoding <enc>", "input text encoding: auto, utf-8, gb18030", "auto")
    .action(async (arg: string, o: { n: string; seed: string; output: string; encoding?: string }) => {
      const c = ctx();
      const n = intFlag("-n", o.n, { min: 0 });
      const seed = intFlag("--seed", o.seed, { min: 0 });
      const encoding = parseEncoding(o.encoding);
      await requireFile("<in>", arg);
      await guardOutputs({ inputs: { "<in>": arg }, outputs: { "-o": o.output } });
      const input = await resolveInput("<in>", arg, { quiet: c.quiet });
      const format = await inputFormat(input);
      // Same family as the input: by name when the input's name says (a `.json` input may hold JSONL), else by content.
      const named = formatFromName(input) ?? format;
      if (o.output !== "-" && formatFromName(o.output) !== named) throw new UsageError(`-o must name a file in the input's format (${format}): use ${EXTENSIONS[named]}, got "${o.output}"`);
      const bar = recordBar("sample", c.quiet);
      const counter = { n: 0 };
      let sample;
      try {
        const records = counted(readAny(input, { onInvalid: "error", ...(encoding ? { encoding } : {}) }), bar, counter);
        sample = await reservoirSample(
          (async function* () {
            for await (const r of records) yield r.record;
          })(),
          n,
          { seed },
        );
      } finally {
        bar.stop();
      }
      if (o.output === "-") await writeJsonlTo(c.stdout, sample.items);
      else await writeSample(o.output, format, sample.items);
      c.info(`sample: ${sample.items.length} of ${sample.seen} records (seed ${seed}) → ${o.output}`);
    });
};
