// `sfmed augment` around the library: flags → options, where a run writes, and its summary.
import { stat } from "node:fs/promises";
import path from "node:path";
import { INSTRUCTION_LANGUAGES, PROMPT_LAYOUTS, type AugmentOptions, type AugmentReport } from "@sfmed/instruct-augment";
import type { CliContext } from "../context.js";
import { enumFlag, intFlag, numberFlag } from "../flags.js";

export interface AugmentFlags {
  seeds?: string;
  baseUrl: string;
  model: string;
  steps: string;
  output: string;
  resume?: boolean;
  pool: string;
  seed: string;
  shots: string;
  layout: string;
  language: string;
  shortHistory?: boolean;
  retainOldest: string;
  retainNewest: string;
  swapEvery: string;
  minTerms: string;
  maxRougeL: string;
  lexicon?: string;
  temperature: string;
  maxTokens: string;
  timeout: string;
  apiKeyEnv: string;
  cache?: string | boolean;
  maxCalls?: string;
  maxTotalTokens?: string;
  maxCost?: string;
  priceIn?: string;
  priceOut?: string;
  json?: boolean;
}

const whole = (flag: string, v: string) => intFlag(flag, v, { min: 0 });
const nonNegative = (flag: string, v: string) => numberFlag(flag, v, { min: 0 });
const optionalWhole = (flag: string, v: string | undefined) => intFlag(flag, v, { min: 0 });
const optionalNonNegative = (flag: string, v: string | undefined) => numberFlag(flag, v, { min: 0 });

/** The loop's parameters from the flags (every number checked here, so a typo is exit 2 before any call). */
export function loopOptions(o: AugmentFlags) {
  return {
    steps: intFlag("steps", o.steps, { min: 0, expected: "a whole number ≥ 0" }),
    seed: whole("seed", o.seed),
    shots: whole("shots", o.shots),
    layout: enumFlag("layout", o.layout, PROMPT_LAYOUTS),
    language: enumFlag("language", o.language, INSTRUCTION_LANGUAGES),
    shortHistory: Boolean(o.shortHistory),
    retainOldest: whole("retain-oldest", o.retainOldest),
    retainNewest: whole("retain-newest", o.retainNewest),
    swapEvery: whole("swap-every", o.swapEvery),
    filter: { minTerms: whole("min-terms", o.minTerms), maxRougeL: nonNegative("max-rouge-l", o.maxRougeL) },
    chat: { temperature: nonNegative("temperature", o.temperature), maxTokens: whole("max-tokens", o.maxTokens) },
    budget: { maxCalls: optionalWhole("max-calls", o.maxCalls), maxTokens: optionalWhole("max-total-tokens", o.maxTotalTokens), maxCost: optionalNonNegative("max-cost", o.maxCost) },
    resume: Boolean(o.resume),
  } satisfies Partial<AugmentOptions>;
}

/** Prices per million tokens, when either is given. */
export function pricingOf(o: AugmentFlags) {
  if (o.priceIn === undefined && o.priceOut === undefined) return undefined;
  return { inputPerMillion: optionalNonNegative("price-in", o.priceIn) ?? 0, outputPerMillion: optionalNonNegative("price-out", o.priceOut) ?? 0 };
}

export const timeoutMsOf = (o: AugmentFlags) => nonNegative("timeout", o.timeout) * 1000;

/**
 * Where a run writes: `-o FILE` gives FILE plus FILE.state.json, FILE.report.json and FILE.llm-cache/; `-o DIR/`
 * (a trailing slash or an existing folder, as pipeline stages pass `${out}`) gives DIR/{pool}.jsonl and friends.
 */
export async function outputPaths(output: string, pool: string) {
  const isDir = /[\\/]$/.test(output) || (await stat(output).then((s) => s.isDirectory(), () => false));
  const file = isDir ? path.join(output, `${pool}.jsonl`) : output;
  return { file, state: `${file}.state.json`, report: `${file}.report.json`, cache: `${file}.llm-cache` };
}

export function printReport(c: CliContext, r: AugmentReport, out: string) {
  const rej = Object.entries(r.rejected)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  c.info(
    [
      `augment: ${r.steps} steps (${r.stoppedBy === "steps" ? "done" : `stopped by ${r.stoppedBy}`}), ${r.accepted} accepted of ${r.candidates} candidates (${(100 * r.acceptanceRate).toFixed(1)}%)`,
      `  rejected: ${rej || "none"}`,
      `  diversity: distinct-2 ${r.diversity.distinct2.toFixed(3)}, mean pairwise ROUGE-L ${r.diversity.meanPairwiseRougeL.toFixed(3)}; lexicon terms used ${r.lexicon.distinctTerms}`,
      `  usage: ${r.usage.calls} calls (${r.usage.cachedCalls} cached), ${r.usage.promptTokens + r.usage.completionTokens} tokens, cost ${r.usage.cost.toFixed(4)}`,
      `  wrote ${out}`,
    ].join("\n"),
  );
}
