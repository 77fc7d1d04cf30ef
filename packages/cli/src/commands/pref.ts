import path from "node:path";
import { mergeScores, readInputRows, scoreWithModels, votePairs, type MergeScoresResult } from "@sfmed/pref-select";
import { writeJsonl } from "@sfmed/schema";
import { UsageError, type CliContext } from "../context.js";
import { enumFlag, intFlag } from "../flags.js";
import { createProgress } from "../progress.js";
import type { Register } from "./index.js";
import { guardOutputs } from "./io-helpers.js";
import { commonModelOptions, modelFrom, side, writeRejects, writeReport, type ModelFlags } from "./pref-helpers.js";
import { registerSelect } from "./pref-strength.js";

type VoteFlags = ModelFlags & { input: string; output: string; judge: string[]; seed: string; minVotes?: string; rejectedTie: string; concurrency: string; maxTokens: string; checkpoint: string | boolean; report?: string };

async function vote(c: CliContext, o: VoteFlags): Promise<void> {
  const rejectedTie = enumFlag("rejected-tie", o.rejectedTie, ["seeded", "drop"] as const);
  const [seed, minVotes, concurrency, maxTokens] = [intFlag("seed", o.seed, { min: 0 }), intFlag("min-votes", o.minVotes, { min: 1 }), intFlag("concurrency", o.concurrency, { min: 1 }), intFlag("max-tokens", o.maxTokens, { min: 1 })];
  const judges = o.judge.map((j) => modelFrom(j, o, "judge"));
  const started = Date.now();
  const report = o.report ?? side(o.output, "report.json");
  await guardOutputs({ inputs: { "-i": o.input }, outputs: { "-o": o.output, "--report": o.report, "--checkpoint": typeof o.checkpoint === "string" ? o.checkpoint : undefined } });
  const rows = await readInputRows(o.input);
  const checkpoint = o.checkpoint === false ? undefined : typeof o.checkpoint === "string" ? o.checkpoint : side(o.output, "vote-ckpt.jsonl");
  const bar = createProgress({ label: "vote", total: rows.values.length, unit: "set", quiet: c.quiet });
  const onProgress = (p: { total: number; done: number; calls: number }) => (bar.setTotal(p.total), bar.update(p.done, { calls: p.calls }));
  const result = await votePairs({ items: rows.values, lines: rows.lines, file: o.input, judges, seed, ...(minVotes ? { minVotes } : {}), rejectedTie, concurrency, chatOptions: { temperature: 0, maxTokens }, checkpoint, onProgress }).finally(() => bar.stop());
  await writeJsonl(o.output, result.pairs);
  const rejected = [...rows.bad, ...result.rejected];
  const rejectsFile = await writeRejects(o.output, [...rejected, ...result.dropped.map((d) => ({ ...d, file: o.input, dropped: true }))]);
  const s = result.summary;
  const fields = { output: o.output, params: { judges: s.judges, seed: s.seed, minVotes: s.minVotes, rejectedTie, checkpoint: checkpoint ?? null }, summary: { ...s, input: rows.values.length + rows.bad.length, rejected: rejected.length }, agreement: result.agreement, dropped: result.dropped, rejected };
  await writeReport(report, "pref vote", o.input, started, fields);
  const k = result.agreement.fleissKappa;
  c.info(`pref vote: ${s.valid} sets → ${result.pairs.length} pairs, ${result.dropped.length} dropped, ${rejected.length} rejected; Fleiss κ ${k === null ? "n/a" : k.toFixed(3)} over ${result.agreement.kappaItems} sets; wrote ${o.output}, ${report}${rejectsFile ? `, ${rejectsFile}` : ""}`);
}

type ScoreFlags = ModelFlags & { input: string; output: string; scores?: string[]; rm?: string[]; append?: boolean; batchSize: string; concurrency: string; checkpoint?: string; report?: string };

async function score(c: CliContext, o: ScoreFlags): Promise<void> {
  if (!o.scores?.length && !o.rm?.length) throw new UsageError("give score files (--scores) or reward models (--rm)");
  if (o.scores?.length && o.rm?.length) throw new UsageError("use either --scores or --rm, not both (score with --rm first, then merge the files)");
  const [batchSize, concurrency] = [intFlag("batch-size", o.batchSize, { min: 1 }), intFlag("concurrency", o.concurrency, { min: 1 })];
  await guardOutputs({ inputs: { "-i": o.input, "--scores": o.scores }, outputs: { "-o": o.output, "--report": o.report, "--checkpoint": o.checkpoint } });
  const started = Date.now();
  const rows = await readInputRows(o.input);
  const bad = [...rows.bad];
  let result: MergeScoresResult;
  if (o.scores?.length) {
    const sources = [];
    for (const f of o.scores) {
      const r = await readInputRows(f);
      bad.push(...r.bad);
      sources.push({ name: path.basename(f).replace(/\.(jsonl|json)(\.gz)?$/, ""), rows: r.values, lines: r.lines, file: f });
    }
    result = mergeScores({ pairs: rows.values, pairLines: rows.lines, pairFile: o.input, sources, append: o.append });
  } else {
    const models = o.rm!.map((m) => modelFrom(m, o, "rm"));
    const bar = createProgress({ label: "score", total: rows.values.length * models.length, unit: "pair", quiet: c.quiet });
    const checkpoint = o.checkpoint ?? side(o.output, "score-ckpt.jsonl");
    result = await scoreWithModels({ pairs: rows.values, pairLines: rows.lines, pairFile: o.input, models, batchSize, concurrency, checkpoint, onProgress: (p) => bar.update(p.done, { model: p.model }) }).finally(() => bar.stop());
  }
  await writeJsonl(o.output, result.pairs);
  const rejected = [...bad, ...result.rejected];
  const rejectsFile = await writeRejects(o.output, [...rejected, ...result.unscored.map((u) => ({ ...u, reason: `not scored by ${u.missing.join(", ")}` }))]);
  const report = o.report ?? side(o.output, "report.json");
  const summary = { input: rows.values.length + rows.bad.length, scored: result.pairs.length, unscored: result.unscored.length, rejected: rejected.length, models: result.models };
  await writeReport(report, "pref score", o.input, started, { sources: o.scores ?? o.rm, output: o.output, summary, unmatched: result.unmatched, unscored: result.unscored, rejected });
  c.info(`pref score: ${result.pairs.length} pairs scored by ${result.models.length} models, ${result.unscored.length} unscored, ${rejected.length} rejected; wrote ${o.output}, ${report}${rejectsFile ? `, ${rejectsFile}` : ""}`);
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
  ).action((o: VoteFlags) => vote(ctx(), o));
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
  ).action((o: ScoreFlags) => score(ctx(), o));
  registerSelect(pref, ctx);
};
