import { recordSchemas } from "@sfmed/schema";
import { UsageError } from "../context.js";
import { counted, countingSink, guardOutputs, openRejects, parseEncoding, parseKind, parseOnInvalid, readAny, recordBar, requireNonEmpty, resolveInput, writeAny } from "./io-helpers.js";
import type { Register } from "./index.js";

interface ValidateFlags {
  schema: string;
  onInvalid?: string;
  rejects?: string;
  output?: string;
  encoding?: string;
  allowEmpty?: boolean;
}

export const register: Register = (program, ctx) => {
  program
    .command("validate")
    .description("check every record of a file against a record schema; errors name the file, line and field")
    .argument("<file>", "JSONL (gzip ok), JSON array, CSV or Parquet file; - reads stdin")
    .requiredOption("--schema <kind>", `record kind: ${Object.keys(recordSchemas).join(", ")}`)
    .option("--on-invalid <mode>", "error: exit non-zero at the first bad record; skip: set bad records aside", "error")
    .option("--rejects <file>", "with --on-invalid skip: JSONL of rejected records with line and reason")
    .option("-o, --output <file>", "write the valid records here (format by extension, atomically); - writes JSONL to stdout")
    .option("--encoding <enc>", "text encoding: auto, utf-8, gb18030", "auto")
    .option("--allow-empty", "succeed even when no record is valid (by default that exits 1)")
    .action(async (file: string, o: ValidateFlags) => {
      const c = ctx();
      const kind = parseKind(o.schema);
      if (!kind) throw new UsageError("--schema is required");
      const onInvalid = parseOnInvalid(o.onInvalid, o.rejects);
      const encoding = parseEncoding(o.encoding);
      await guardOutputs({ inputs: { "<file>": file }, outputs: { "-o": o.output, "--rejects": o.rejects } });
      const source = await resolveInput("<file>", file, { quiet: c.quiet });
      const rejects = await openRejects(o.rejects);
      const sink = countingSink(rejects);
      const bar = recordBar(`validate ${kind}`, c.quiet);
      const counter = { n: 0 };
      try {
        const records = (async function* () {
          for await (const r of readAny(source, { kind, onInvalid, rejects: sink, encoding })) yield r.record;
        })();
        const valid = counted(records, bar, counter);
        if (o.output) await writeAny(o.output, valid);
        else for await (const _ of valid);
        await rejects?.commit();
      } catch (err) {
        await rejects?.abort();
        throw err;
      } finally {
        bar.stop();
      }
      c.info(
        `validate: ${file}: ${counter.n} valid ${kind} records` +
          (onInvalid === "skip" ? `, ${sink.count} rejected${o.rejects ? ` → ${o.rejects}` : ""}` : "") +
          (o.output ? ` → ${o.output}` : ""),
      );
      requireNonEmpty(counter.n, `validate: ${file}: no valid ${kind} records${sink.count ? ` (all ${sink.count} rejected)` : ""}`, o.allowEmpty);
    });
};
