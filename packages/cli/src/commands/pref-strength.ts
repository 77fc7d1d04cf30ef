import { buildSelectReport, readInputRows, renderStrengthSvg, selectPairs } from "@sfmed/pref-select";
import { atomicWrite, writeJsonl } from "@sfmed/schema";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { enumFlag, fractionFlag } from "../flags.js";
import { guardOutputs } from "./io-helpers.js";
import { side, writeRejects, writeReport } from "./pref-helpers.js";

type SelectFlags = { input: string; output: string; flip: string; drop: string; order: string; dropped?: string; report?: string; plot?: string; strict?: boolean };

async function select(c: CliContext, o: SelectFlags): Promise<void> {
  const order = enumFlag("order", o.order, ["input", "strength"] as const);
  // flip + drop ≤ 1 is selectPairs' own check (an OptionError: exit 2).
  const [flip, drop] = [fractionFlag("flip", o.flip, { expected: "a fraction between 0 and 1" }), fractionFlag("drop", o.drop, { expected: "a fraction between 0 and 1" })];
  await guardOutputs({ inputs: { "-i": o.input }, outputs: { "-o": o.output, "--dropped": o.dropped, "--report": o.report, "--plot": o.plot } });
  const started = Date.now();
  const rows = await readInputRows(o.input);
  const result = selectPairs({ pairs: rows.values, lines: rows.lines, file: o.input, flip, drop, order });
  const rejected = [...rows.bad, ...result.rejected].sort((a, b) => a.line - b.line);
  const first = rejected[0];
  if (o.strict && first) throw new UsageError(`${rejected.length} rows rejected, first ${first.file ?? o.input}:${first.line}${first.field ? ` field ${first.field}` : ""}: ${first.reason}`);
  await writeJsonl(o.output, result.pairs);
  if (o.dropped) await writeJsonl(o.dropped, result.dropped);
  const report = buildSelectReport({ result });
  const [reportFile, plotFile] = [o.report ?? side(o.output, "report.json"), o.plot ?? side(o.output, "strength.svg")];
  const rejectsFile = await writeRejects(o.output, rejected);
  const { points: _points, ...json } = report;
  const params = { flip, drop, order, rounding: "count = floor(fraction * n)" };
  await writeReport(reportFile, "pref select", o.input, started, { output: o.output, params, ...json, summary: { ...json.summary, input: rows.values.length + rows.bad.length, rejected: rejected.length }, rejected });
  await atomicWrite(plotFile, [renderStrengthSvg({ report })]);
  const s = result.summary;
  c.info(`pref select: ${s.valid} pairs over ${s.models} reward models → ${s.kept} kept, ${s.flipped} flipped, ${s.dropped} dropped; ${rejected.length} rejected; wrote ${o.output}, ${reportFile}, ${plotFile}${rejectsFile ? `, ${rejectsFile}` : ""}`);
  if (first) c.info(`  first rejected row: ${first.file ?? o.input}:${first.line}: ${first.reason}`);
}

/** `sfmed pref select`: flip and drop by reward-ensemble strength. */
export function registerSelect(pref: Command, ctx: () => CliContext): void {
  pref
    .command("select")
    .description("flip the weakest and drop the strongest pairs by reward-ensemble strength (mean of chosen − rejected)")
    .requiredOption("-i, --input <file>", "PreferencePair JSONL with scores from every reward model")
    .requiredOption("-o, --output <file>", "kept and flipped pairs, with meta.strength, meta.strengthStd, meta.action and margin")
    .option("--flip <fraction>", "lowest-strength share to flip (Secrets of RLHF II)", "0.1")
    .option("--drop <fraction>", "highest-strength share to drop (SF-Med)", "0.1")
    .option("--order <order>", "output order: input | strength", "input")
    .option("--dropped <file>", "also write the dropped pairs here")
    .option("--report <file>", "JSON report (default: <output>.report.json)")
    .option("--plot <file>", "SVG plot of μ and σ (default: <output>.strength.svg)")
    .option("--strict", "exit with an error when any row is rejected")
    .action((o: SelectFlags) => select(ctx(), o));
}
