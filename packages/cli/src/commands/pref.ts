import path from "node:path";
import { createOpenAIModel } from "@sfmed/llm";
import {
  buildSelectReport,
  mergeScores,
  renderStrengthSvg,
  scoreWithModels,
  selectPairs,
  votePairs,
  type MergeScoresResult,
  type RejectedRow,
} from "@sfmed/pref-select";
import { atomicWrite, hashFile, isBadRow, scanRows, writeJsonl } from "@sfmed/schema";
import { UsageError, type CliContext } from "../context.js";
import { createProgress } from "../progress.js";
import type { Register } from "./index.js";
import { guardOutputs } from "./io-helpers.js";

/** Rows of a JSONL/JSON/CSV file with their lines; unparsable rows become rejections. */
async function readRows(file: string): Promise<{ values: unknown[]; lines: number[]; bad: RejectedRow[] }> {
  const values: unknown[] = [];
  const lines: number[] = [];
  const bad: RejectedRow[] = [];
  for await (const r of scanRows(file)) {
    if (isBadRow(r)) bad.push({ file, line: r.line, reason: r.error.message.replace(/^.*?: /, "") });
    else (values.push(r.value), lines.push(r.line));
  }
  return { values, lines, bad };
}

const writeJson = (file: string, value: unknown) => atomicWrite(file, [JSON.stringify(value, null, 2) + "\n"]);

function fraction(name: string, v: string): number {
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || x < 0 || x > 1) throw new UsageError(`--${name} must be a fraction between 0 and 1, got "${v}"`);
  return x;
}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive whole number, got "${v}"`);
  return n;
}

function wholeNumber(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number, got "${v}"`);
  return n;
}

interface ModelFlags {
  baseUrl?: string;
  apiKeyEnv: string;
  cacheDir?: string;
  timeout?: string;
}

/** `NAME` (served at --base-url) or `NAME@URL`, as an OpenAI-compatible model. */
function modelFrom(spec: string, o: ModelFlags, flag: string) {
  const at = spec.lastIndexOf("@");
  const name = at > 0 ? spec.slice(0, at) : spec;
  const baseURL = at > 0 ? spec.slice(at + 1) : o.baseUrl;
  if (!name || !baseURL) throw new UsageError(`--${flag} "${spec}" needs a server: write NAME@URL or pass --base-url`);
  const timeoutMs = positiveInt("timeout", o.timeout);
  return createOpenAIModel({
    baseURL,
    model: name,
    apiKey: process.env[o.apiKeyEnv] ?? "EMPTY",
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    ...(timeoutMs ? { timeoutMs: timeoutMs * 1000 } : {}),
  });
}

async function writeRejects(file: string, rows: readonly unknown[]): Promise<string | undefined> {
  if (!rows.length) return undefined;
  await writeJsonl(file, rows);
  return file;
}

const side = (out: string, suffix: string) => `${out.replace(/\.jsonl(\.gz)?$/, "")}.${suffix}`;

function commonModelOptions<T extends import("commander").Command>(cmd: T): T {
  return cmd
    .option("--base-url <url>", "OpenAI-compatible server (with /v1) for models given without @URL")
    .option("--api-key-env <name>", "environment variable holding the API key", "OPENAI_API_KEY")
    .option("--cache-dir <dir>", "on-disk response cache")
    .option("--timeout <seconds>", "per-request timeout");
}

function summaryLine(c: CliContext, text: string) {
  c.info(text);
}

export const register: Register = (program, ctx) => {
  const pref = program.command("pref").description("preference pairs: judge vote, reward-model scores, flip/drop by ensemble strength");

  commonModelOptions(
    pref
      .command("vote")
      .description("turn {id, prompt, responses[]} sets into pairs by a majority of judge models")
      .requiredOption("-i, --input <file>", "candidate sets (JSONL/JSON): {id, prompt: Message[], responses: string[]}")
      .requiredOption("-o, --output <file>", "PreferencePair JSONL")
      .requiredOption("-j, --judge <model...>", "judge models: NAME or NAME@URL (give several)")
      .option("--seed <n>", "seed of the per-judge shuffles and tie-breaks", "0")
      .option("--min-votes <n>", "votes the best response needs (default: a strict majority of the judges)")
      .option("--rejected-tie <rule>", "seeded | drop: when several responses tie for fewest votes", "seeded")
      .option("--concurrency <n>", "judge calls in flight", "4")
      .option("--max-tokens <n>", "judge answer budget", "1024")
      .option("--checkpoint <file>", "resume file (default: <output>.vote-ckpt.jsonl)")
      .option("--no-checkpoint", "do not checkpoint")
      .option("--report <file>", "JSON report (default: <output>.report.json)"),
  ).action(
    async (o: ModelFlags & { input: string; output: string; judge: string[]; seed: string; minVotes?: string; rejectedTie: string; concurrency: string; maxTokens: string; checkpoint: string | boolean; report?: string }) => {
      const c = ctx();
      if (o.rejectedTie !== "seeded" && o.rejectedTie !== "drop") throw new UsageError(`--rejected-tie must be seeded or drop, got "${o.rejectedTie}"`);
      const judges = o.judge.map((j) => modelFrom(j, o, "judge"));
      const started = Date.now();
      await guardOutputs({ inputs: { "-i": o.input }, outputs: { "-o": o.output, "--report": o.report, "--checkpoint": typeof o.checkpoint === "string" ? o.checkpoint : undefined } });
      const rows = await readRows(o.input);
      const bar = createProgress({ label: "vote", total: rows.values.length, unit: "set", quiet: c.quiet });
      const checkpoint = o.checkpoint === false ? undefined : typeof o.checkpoint === "string" ? o.checkpoint : side(o.output, "vote-ckpt.jsonl");
      const minVotes = positiveInt("min-votes", o.minVotes);
      let result;
      try {
        result = await votePairs({
          items: rows.values,
          lines: rows.lines,
          file: o.input,
          judges,
          seed: wholeNumber("seed", o.seed)!,
          ...(minVotes ? { minVotes } : {}),
          rejectedTie: o.rejectedTie,
          concurrency: positiveInt("concurrency", o.concurrency)!,
          chatOptions: { temperature: 0, maxTokens: positiveInt("max-tokens", o.maxTokens)! },
          checkpoint,
          onProgress: (p) => {
            bar.setTotal(p.total);
            bar.update(p.done, { calls: p.calls });
          },
        });
      } finally {
        bar.stop();
      }
      await writeJsonl(o.output, result.pairs);
      const rejected = [...rows.bad, ...result.rejected];
      const rejectsFile = await writeRejects(side(o.output, "rejects.jsonl"), [...rejected, ...result.dropped.map((d) => ({ ...d, file: o.input, dropped: true }))]);
      const report = side(o.output, "report.json");
      await writeJson(o.report ?? report, {
        command: "pref vote",
        input: { file: o.input, sha256: await hashFile(o.input) },
        output: o.output,
        params: { judges: result.summary.judges, seed: result.summary.seed, minVotes: result.summary.minVotes, rejectedTie: o.rejectedTie, checkpoint: checkpoint ?? null },
        summary: { ...result.summary, input: rows.values.length + rows.bad.length, rejected: rejected.length },
        agreement: result.agreement,
        dropped: result.dropped,
        rejected,
        seconds: (Date.now() - started) / 1000,
      });
      const k = result.agreement.fleissKappa;
      summaryLine(
        c,
        `pref vote: ${result.summary.valid} sets → ${result.pairs.length} pairs, ${result.dropped.length} dropped, ${rejected.length} rejected; ` +
          `Fleiss κ ${k === null ? "n/a" : k.toFixed(3)} over ${result.agreement.kappaItems} sets; wrote ${o.output}, ${o.report ?? report}${rejectsFile ? `, ${rejectsFile}` : ""}`,
      );
    },
  );

  commonModelOptions(
    pref
      .command("score")
      .description("attach M reward models' scores to pairs, from score files or /v1/score servers")
      .requiredOption("-i, --input <file>", "PreferencePair JSONL")
      .requiredOption("-o, --output <file>", "PreferencePair JSONL with scores.{chosen, rejected, models}")
      .option("-s, --scores <file...>", "score files: per-model rows {id, chosen, rejected, model?} or trainer-py rm score output (pairs with scores)")
      .option("-m, --rm <model...>", "reward models served at /v1/score: NAME or NAME@URL")
      .option("--append", "keep the input pairs' existing scores as the first models")
      .option("--batch-size <n>", "pairs per /v1/score request", "16")
      .option("--concurrency <n>", "requests in flight per reward model", "2")
      .option("--checkpoint <file>", "resume file for --rm (default: <output>.score-ckpt.jsonl)")
      .option("--report <file>", "JSON report (default: <output>.report.json)"),
  ).action(
    async (o: ModelFlags & { input: string; output: string; scores?: string[]; rm?: string[]; append?: boolean; batchSize: string; concurrency: string; checkpoint?: string; report?: string }) => {
      const c = ctx();
      if (!o.scores?.length && !o.rm?.length) throw new UsageError("give score files (--scores) or reward models (--rm)");
      if (o.scores?.length && o.rm?.length) throw new UsageError("use either --scores or --rm, not both (score with --rm first, then merge the files)");
      await guardOutputs({ inputs: { "-i": o.input, "--scores": o.scores }, outputs: { "-o": o.output, "--report": o.report, "--checkpoint": o.checkpoint } });
      const started = Date.now();
      const rows = await readRows(o.input);
      let result: MergeScoresResult;
      const bad = [...rows.bad];
      if (o.scores?.length) {
        const sources = [];
        for (const f of o.scores) {
          const r = await readRows(f);
          bad.push(...r.bad);
          sources.push({ name: path.basename(f).replace(/\.(jsonl|json)(\.gz)?$/, ""), rows: r.values, lines: r.lines, file: f });
        }
        result = mergeScores({ pairs: rows.values, pairLines: rows.lines, pairFile: o.input, sources, append: o.append });
      } else {
        const models = o.rm!.map((m) => modelFrom(m, o, "rm"));
        const bar = createProgress({ label: "score", total: rows.values.length * models.length, unit: "pair", quiet: c.quiet });
        try {
          result = await scoreWithModels({
            pairs: rows.values,
            pairLines: rows.lines,
            pairFile: o.input,
            models,
            batchSize: positiveInt("batch-size", o.batchSize),
            concurrency: positiveInt("concurrency", o.concurrency),
            checkpoint: o.checkpoint ?? side(o.output, "score-ckpt.jsonl"),
            onProgress: (p) => bar.update(p.done, { model: p.model }),
          });
        } finally {
          bar.stop();
        }
      }
      await writeJsonl(o.output, result.pairs);
      const rejected = [...bad, ...result.rejected];
      const rejectsFile = await writeRejects(side(o.output, "rejects.jsonl"), [...rejected, ...result.unscored.map((u) => ({ ...u, reason: `not scored by ${u.missing.join(", ")}` }))]);
      const report = o.report ?? side(o.output, "report.json");
      await writeJson(report, {
        command: "pref score",
        input: { file: o.input, sha256: await hashFile(o.input) },
        sources: o.scores ?? o.rm,
        output: o.output,
        summary: { input: rows.values.length + rows.bad.length, scored: result.pairs.length, unscored: result.unscored.length, rejected: rejected.length, models: result.models },
        unmatched: result.unmatched,
        unscored: result.unscored,
        rejected,
        seconds: (Date.now() - started) / 1000,
      });
      summaryLine(
        c,
        `pref score: ${result.pairs.length} pairs scored by ${result.models.length} models, ${result.unscored.length} unscored, ${rejected.length} rejected; wrote ${o.output}, ${report}${rejectsFile ? `, ${rejectsFile}` : ""}`,
      );
    },
  );

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
    .action(async (o: { input: string; output: string; flip: string; drop: string; order: string; dropped?: string; report?: string; plot?: string; strict?: boolean }) => {
      const c = ctx();
      if (o.order !== "input" && o.order !== "strength") throw new UsageError(`--order must be input or strength, got "${o.order}"`);
      const flip = fraction("flip", o.flip);
      const drop = fraction("drop", o.drop);
      if (flip + drop > 1) throw new UsageError(`--flip + --drop must be at most 1, got ${flip} + ${drop}`);
      await guardOutputs({ inputs: { "-i": o.input }, outputs: { "-o": o.output, "--dropped": o.dropped, "--report": o.report, "--plot": o.plot } });
      const started = Date.now();
      const rows = await readRows(o.input);
      const result = selectPairs({ pairs: rows.values, lines: rows.lines, file: o.input, flip, drop, order: o.order });
      const rejected = [...rows.bad, ...result.rejected].sort((a, b) => a.line - b.line);
      if (o.strict && rejected.length) {
        const first = rejected[0]!;
        throw new UsageError(`${rejected.length} rows rejected, first ${first.file ?? o.input}:${first.line}${first.field ? ` field ${first.field}` : ""}: ${first.reason}`);
      }
      await writeJsonl(o.output, result.pairs);
      if (o.dropped) await writeJsonl(o.dropped, result.dropped);
      const report = buildSelectReport({ result });
      const reportFile = o.report ?? side(o.output, "report.json");
      const plotFile = o.plot ?? side(o.output, "strength.svg");
      const rejectsFile = await writeRejects(side(o.output, "rejects.jsonl"), rejected);
      const { points: _points, ...json } = report;
      await writeJson(reportFile, {
        command: "pref select",
        input: { file: o.input, sha256: await hashFile(o.input) },
        output: o.output,
        params: { flip, drop, order: o.order, rounding: "count = floor(fraction * n)" },
        ...json,
        summary: { ...json.summary, input: rows.values.length + rows.bad.length, rejected: rejected.length },
        rejected,
        seconds: (Date.now() - started) / 1000,
      });
      await atomicWrite(plotFile, [renderStrengthSvg({ report })]);
      const s = result.summary;
      summaryLine(
        c,
        `pref select: ${s.valid} pairs over ${s.models} reward models → ${s.kept} kept, ${s.flipped} flipped, ${s.dropped} dropped; ${rejected.length} rejected; ` +
          `wrote ${o.output}, ${reportFile}, ${plotFile}${rejectsFile ? `, ${rejectsFile}` : ""}`,
      );
      if (rejected.length) c.info(`  first rejected row: ${rejected[0]!.file ?? o.input}:${rejected[0]!.line}: ${rejected[0]!.reason}`);
    });
};
