// What the `sfmed probe` subcommands share: the probed model's flags, the prefix/suffix split, the memorized
// samples of a results file, the safe replacements and the Table 11 QA options.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { cmbClinRubric, overallRubric } from "@sfmed/eval-metrics";
import { createOpenAIModel } from "@sfmed/llm";
import { readCheckpoint, type GateQaOptions, type GateQaSet, type ProbeResult, type ProbeSample, type ReplacementSource, type SplitSpec } from "@sfmed/privacy-probe";
import { readRecords, recordsOnly, type ReferenceQA } from "@sfmed/schema";
import type { Command } from "commander";
import { UsageError } from "../context.js";
import { enumFlag, intFlag, numberFlag } from "../flags.js";

export interface ModelFlags {
  baseUrl: string;
  model: string;
  apiKeyEnv: string;
  concurrency: string;
}

export const concurrencyOf = (o: ModelFlags) => intFlag("concurrency", o.concurrency, { min: 1 });

export function modelFrom(o: ModelFlags, baseUrl = o.baseUrl, name = o.model) {
  return createOpenAIModel({ baseURL: baseUrl, model: name, apiKey: process.env[o.apiKeyEnv], concurrency: concurrencyOf(o) });
}

export function modelOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--base-url <url>", "OpenAI-compatible server (trainer-py serve), e.g. http://127.0.0.1:8000/v1")
    .requiredOption("--model <name>", "model name sent to the server")
    .option("--api-key-env <name>", "environment variable holding the API key", "OPENAI_API_KEY")
    .option("--concurrency <n>", "requests in flight", "4");
}

export interface SplitFlags {
  ratio?: string;
  suffixTokens?: string;
  prefixTokens?: string;
  tokenizer: string;
  limit?: string;
}

export function splitFrom(o: SplitFlags): SplitSpec {
  const k = intFlag("suffix-tokens", o.suffixTokens, { min: 1 });
  const p = intFlag("prefix-tokens", o.prefixTokens, { min: 1 });
  if (o.ratio !== undefined && k !== undefined) throw new UsageError("--ratio and --suffix-tokens exclude each other");
  if (p !== undefined && k === undefined) throw new UsageError("--prefix-tokens needs --suffix-tokens");
  if (k !== undefined) return p !== undefined ? { prefixTokens: p, suffixTokens: k } : { suffixTokens: k };
  return { ratio: numberFlag("ratio", o.ratio ?? "0.5", { min: 0, max: 1, minExclusive: true, maxExclusive: true }) };
}

export async function collect(it: AsyncIterable<ProbeSample>): Promise<ProbeSample[]> {
  const out: ProbeSample[] = [];
  for await (const s of it) out.push(s);
  return out;
}

export async function memorizedFrom(results: string): Promise<ProbeResult[]> {
  const all = await readCheckpoint<ProbeResult>(results);
  if (all.size === 0) throw new UsageError(`no probe results in ${results}`);
  return [...all.values()].filter((r) => r.memorized).sort((a, b) => a.id.localeCompare(b.id));
}

export async function replacementsFrom(o: { safeResponse?: string; safeResponses?: string; replacements?: string }): Promise<ReplacementSource> {
  const given = [o.safeResponse, o.safeResponses, o.replacements].filter((x) => x !== undefined).length;
  if (given !== 1) throw new UsageError("give exactly one of --safe-response, --safe-responses or --replacements");
  if (o.safeResponse !== undefined) return { safeResponses: [o.safeResponse] };
  if (o.replacements !== undefined) {
    const v = JSON.parse(await readFile(o.replacements, "utf8")) as unknown;
    if (!Array.isArray(v) || !v.every((r) => Array.isArray(r) && r.every((x) => typeof x === "number"))) throw new UsageError(`${o.replacements}: expected a JSON array of number arrays`);
    return { vectors: (v as number[][]).map((r) => Float32Array.from(r)) };
  }
  // JSONL of {id, text}: one safe response per memorized sample id.
  const byId: Record<string, string> = {};
  for (const [i, line] of (await readFile(o.safeResponses!, "utf8")).split("\n").entries()) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { id?: unknown; text?: unknown };
    if (typeof r.id !== "string" || typeof r.text !== "string") throw new UsageError(`${o.safeResponses}:${i + 1}: expected {"id": string, "text": string}`);
    byId[r.id] = r.text;
  }
  return { safeResponses: byId };
}

/** A QA set's name from its file: `data/cmtmedqa.test.jsonl.gz` → `cmtmedqa.test`. */
const setName = (file: string) => path.basename(file).replace(/\.gz$/i, "").replace(/\.(jsonl|ndjson|json|csv|tsv)$/i, "");

export type QaFlags = { qa?: string[]; judgeModel?: string; judgeBaseUrl?: string; baseUrl: string; judgeApiKeyEnv: string; rubric: string; judgeRetries: string; qaMaxTokens: string; concurrency: string; out: string };

/** The Table 11 options of `eval-gate`: QA sets and the judge, or undefined without `--qa`. */
export async function qaFrom(o: QaFlags): Promise<GateQaOptions | undefined> {
  if (!o.qa) {
    if (o.judgeModel !== undefined) throw new UsageError("--judge-model needs --qa (the QA sets to judge)");
    return undefined;
  }
  if (o.judgeModel === undefined) throw new UsageError("--qa needs --judge-model");
  const rubric = enumFlag("rubric", o.rubric, ["overall", "cmb-clin"] as const, { expected: "overall or cmb-clin" }) === "overall" ? overallRubric() : cmbClinRubric();
  const retries = intFlag("judge-retries", o.judgeRetries, { min: 0 });
  const maxTokens = intFlag("qa-max-tokens", o.qaMaxTokens, { min: 1 });
  const names = o.qa.map(setName);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new UsageError(`two --qa files make the set "${twice}": give each set its own file name`);
  const sets: GateQaSet[] = [];
  for (const [i, file] of o.qa.entries()) {
    const items: ReferenceQA[] = [];
    for await (const r of recordsOnly(readRecords(file, { kind: "qa" }))) items.push(r);
    sets.push({ name: names[i]!, items });
  }
  // The response cache lets an interrupted run resume: greedy answers repeat, so the judge prompts do too.
  const judge = createOpenAIModel({ baseURL: o.judgeBaseUrl ?? o.baseUrl, model: o.judgeModel, apiKey: process.env[o.judgeApiKeyEnv], cacheDir: path.join(o.out, ".judge-cache") });
  return { sets, judge: { model: judge, rubric, retries, concurrency: intFlag("concurrency", o.concurrency, { min: 1 }) }, maxTokens };
}
