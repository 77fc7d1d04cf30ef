import { PII_KINDS, redactPiiFile, scanPiiFile, type PiiFileFormat, type PiiKind, type RedactionMode } from "@sfmed/privacy-probe";
import { writeJsonFile } from "../stage-report.js";
import { enumFlag, fractionFlag, intFlag } from "../flags.js";
import { guardOutputs, parseEncoding, stdinAsFile } from "./io-helpers.js";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { createProgress } from "../progress.js";
import type { Register } from "./index.js";

interface ScanFlags {
  format?: string;
  encoding?: string;
  kinds?: string;
  threshold: string;
  legacyIds?: boolean;
  report?: string;
  maxFindings: string;
}

const FORMATS = ["text", "jsonl", "json", "csv", "tsv", "parquet"] as const satisfies readonly PiiFileFormat[];

function scanOptions(o: ScanFlags) {
  const format = enumFlag("--format", o.format, FORMATS);
  const encoding = parseEncoding(o.encoding);
  const threshold = fractionFlag("--threshold", o.threshold);
  const maxFindings = intFlag("--max-findings", o.maxFindings, { min: 0 });
  let kinds: PiiKind[] | undefined;
  if (o.kinds !== undefined) {
    kinds = o.kinds.split(",").map((k) => k.trim()) as PiiKind[];
    const bad = kinds.find((k) => !PII_KINDS.includes(k));
    if (bad) throw new UsageError(`--kinds takes ${PII_KINDS.join(", ")}; got "${bad}"`);
  }
  return {
    ...(format ? { format } : {}),
    ...(encoding ? { encoding } : {}),
    ...(kinds ? { kinds } : {}),
    threshold,
    legacyResidentIds: Boolean(o.legacyIds),
    maxFindings,
  };
}

function common(cmd: Command): Command {
  return cmd
    .option("--format <name>", `${FORMATS.join(", ")}: text scans every line; the record formats scan every string, object key and number (integers above 2^53 have lost digits when parsed); default by extension (.gz ok) or Parquet magic bytes`)
    .option("--encoding <enc>", "text encoding: auto (UTF-8 or GB18030), utf-8, gb18030; invalid bytes stop the run naming line and byte", "auto")
    .option("--kinds <list>", `comma-separated subset of ${PII_KINDS.join(",")}`)
    .option("--threshold <x>", "drop findings scoring below this (checksum-valid = 1, pattern-only 0.3–0.95)", "0.5")
    .option("--legacy-ids", "also report 15-digit resident IDs (no checksum)")
    .option("--max-findings <n>", "findings listed (masked) in the report", "100")
    .option("--report <file>", "write the JSON report here (default: stdout)");
}

async function emit(c: CliContext, report: unknown, file: string | undefined) {
  if (file) {
    await writeJsonFile(file, report);
    c.info(`report: ${file}`);
  } else c.stdout.write(JSON.stringify(report, null, 2) + "\n");
}

/** `sfmed pii scan | redact`: personal data in Chinese text, as a report or a filtered copy. */
export const register: Register = (program, ctx) => {
  const pii = program.command("pii").description("find or redact personal data (resident IDs, phones, e-mail, bank cards) in Chinese text");

  common(pii.command("scan").description("report personal data in a file (findings are masked in the report)").argument("<file>", "file to scan; - reads stdin (its format sniffed, or --format)"))
    .option("--fail-on-find", "exit with code 1 when anything is found")
    .action(async (file: string, o: ScanFlags & { failOnFind?: boolean }) => {
      const c = ctx();
      await guardOutputs({ inputs: { "<file>": file }, outputs: { "--report": o.report } });
      const bar = createProgress({ label: "pii scan", unit: "line", quiet: c.quiet });
      let report;
      try {
        report = await scanPiiFile({ file: file === "-" ? await stdinAsFile() : file, ...scanOptions(o), onProgress: (p) => bar.update(p.lines, { found: p.findings }) });
      } finally {
        bar.stop();
      }
      await emit(c, report, o.report);
      c.info(`pii scan: ${report.total} findings in ${report.linesWithPii} of ${report.lines} lines`);
      if (o.failOnFind && report.total > 0) throw Object.assign(new Error(`${report.total} findings in ${file}`), { name: "PiiFound" });
    });

  common(pii.command("redact").description("write a copy with personal data replaced (or its lines dropped)").argument("<file>", "file to redact; - reads stdin (its format sniffed, or --format)"))
    .requiredOption("-o, --out <file>", "redacted output in the format its name says, gzip for .gz (written atomically)")
    .option("--mode <name>", "tag ([身份证号]…), mask (****) or hash (salted, stable)", "tag")
    .option("--salt-env <name>", "hash mode: environment variable holding the salt", "SFMED_PII_SALT")
    .option("--action <name>", "redact the findings, or drop every line that has one", "redact")
    .option("--keep-start <n>", "mask mode: letters/digits left visible at the start", "0")
    .option("--keep-end <n>", "mask mode: letters/digits left visible at the end", "0")
    .action(async (file: string, o: ScanFlags & { out: string; mode: string; saltEnv: string; action: string; keepStart: string; keepEnd: string }) => {
      const c = ctx();
      const mode = enumFlag<RedactionMode>("--mode", o.mode, ["tag", "mask", "hash"]);
      const action = enumFlag("--action", o.action, ["redact", "drop"] as const);
      await guardOutputs({ inputs: { "<file>": file }, outputs: { "-o": o.out, "--report": o.report } });
      const salt = process.env[o.saltEnv];
      if (o.mode === "hash" && !salt) throw new UsageError(`--mode hash needs a salt in $${o.saltEnv}`);
      const keep = (name: string, v: string) => intFlag(name, v, { min: 0 });
      const bar = createProgress({ label: "pii redact", unit: "line", quiet: c.quiet });
      let report;
      try {
        report = await redactPiiFile({
          file: file === "-" ? await stdinAsFile() : file,
          output: o.out,
          ...scanOptions(o),
          mode,
          action,
          keepStart: keep("keep-start", o.keepStart),
          keepEnd: keep("keep-end", o.keepEnd),
          ...(salt ? { salt } : {}),
          onProgress: (p) => bar.update(p.lines, { found: p.findings }),
        });
      } finally {
        bar.stop();
      }
      await emit(c, report, o.report);
      c.info(`pii redact: ${report.total} findings, ${report.linesWritten} of ${report.lines} lines written to ${o.out}`);
    });
};
