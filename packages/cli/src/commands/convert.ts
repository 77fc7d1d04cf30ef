import { converters, exportRecords, getConverter, getExporter, exporters, recordSchemas } from "@sfmed/schema";
import { UsageError } from "../context.js";
import { counted, countingSink, guardOutputs, openRejects, parseEncoding, parseOnInvalid, recordBar, requireNonEmpty, resolveInputs, writeAny } from "./io-helpers.js";
import type { Register } from "./index.js";

/** Converters that know which of their subjects are medical (`--medical-only`). */
const MEDICAL_FILTERS = Object.values(converters)
  .filter((x) => x.medicalFilter)
  .map((x) => x.name)
  .join(", ");

interface ConvertFlags {
  from: string;
  to?: string;
  output: string;
  onInvalid?: string;
  rejects?: string;
  encoding?: string;
  medicalOnly?: boolean;
  allowEmpty?: boolean;
}

export const register: Register = (program, ctx) => {
  program
    .command("convert")
    .description("convert public data sets into canonical records (and optionally export them to alpaca/sharegpt/trainer)")
    .argument("<in...>", "input files or directories (- reads stdin)")
    .requiredOption("--from <format>", `input format: ${Object.keys(converters).join(", ")}; or a record kind (${Object.keys(recordSchemas).join(", ")}) for canonical files`)
    .option("--to <format>", `export format: ${Object.keys(exporters).join(", ")} (default: canonical records)`)
    .requiredOption("-o, --output <file>", "output file: .jsonl, .jsonl.gz, .json, .csv or .parquet (written atomically); - writes JSONL to stdout")
    .option("--on-invalid <mode>", "error: stop at the first bad record; skip: set it aside and go on", "error")
    .option("--rejects <file>", "with --on-invalid skip: JSONL of rejected input records with line and reason")
    .option("--encoding <enc>", "input text encoding: auto, utf-8, gb18030", "auto")
    .option("--medical-only", `keep only the medical subjects (${MEDICAL_FILTERS})`)
    .option("--allow-empty", "succeed even when no record was written (by default an empty result, e.g. every record rejected, exits 1)")
    .action(async (args: string[], o: ConvertFlags) => {
      const inputs = args;
      const c = ctx();
      const onInvalid = parseOnInvalid(o.onInvalid, o.rejects);
      await guardOutputs({ inputs: { "<in>": inputs }, outputs: { "-o": o.output, "--rejects": o.rejects } });
      const encoding = parseEncoding(o.encoding);
      let converter;
      try {
        converter = getConverter(o.from);
        if (o.to) getExporter(o.to);
        if (o.medicalOnly && !converter.medicalFilter) throw new Error(`--medical-only: "${o.from}" has no list of medical subjects (only ${MEDICAL_FILTERS})`);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const sources = await resolveInputs(inputs, { quiet: c.quiet });
      const rejects = await openRejects(o.rejects);
      const sink = countingSink(rejects);
      async function* all() {
        for (const input of sources) yield* converter!.from(input, { onInvalid, rejects: sink, ...(encoding ? { encoding } : {}), ...(o.medicalOnly ? { medicalOnly: true } : {}) });
      }
      const bar = recordBar(`convert ${o.from}`, c.quiet);
      const counter = { n: 0 };
      try {
        const records = counted(all(), bar, counter);
        await writeAny(o.output, o.to ? exportRecords(records, { to: o.to, kind: converter.kind }) : records);
        await rejects?.commit();
      } catch (err) {
        await rejects?.abort();
        throw err;
      } finally {
        bar.stop();
      }
      c.info(
        `convert: ${counter.n} ${converter.kind} records from ${inputs.length} input${inputs.length > 1 ? "s" : ""} → ${o.output}` +
          (o.to ? ` (${o.to})` : "") +
          (onInvalid === "skip" ? `; ${sink.count} rejected${o.rejects ? ` → ${o.rejects}` : ""}` : ""),
      );
      requireNonEmpty(counter.n, `convert: no records written to ${o.output}${sink.count ? ` (all ${sink.count} rejected)` : ""}`, o.allowEmpty);
    });
};
