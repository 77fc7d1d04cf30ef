import { createHash } from "node:crypto";
import type { ChatModel, ChatOptions, Pricing } from "@sfmed/llm";
import { AugmentError } from "./augment-error.js";
import { loadCheckpoint, saveStep, startCheckpoint, type AcceptedInstruction, type AugmentUsage, type CheckpointSnapshot } from "./augment-checkpoint.js";
import { diversityStats, type DiversityStats } from "./diversity-stats.js";
import {
  INSTRUCTION_LANGUAGES,
  PROMPT_LAYOUTS,
  buildHistoryPrompt,
  defaultTemplates,
  type InstructionLanguage,
  type PromptLayout,
  type PromptTemplates,
} from "./history-prompt.js";
import { defaultMedicalLexicon, type MedicalLexicon } from "./medical-lexicon.js";
import { maybeSwap, retainBanks, returnAccepted, sampleStep, splitSeeds, type Banks } from "./question-answer-banks.js";
import { REJECT_REASONS, checkCandidate, resolveFilter, type FilterOptions, type RejectReason } from "./quality-filter.js";
import { SeededRandom } from "./seeded-random.js";
import { splitCandidates } from "./split-candidates.js";

/** Caps that end a run cleanly (with `stoppedBy: "budget"`) before the next step would start. */
export interface AugmentBudget {
  maxCalls?: number | undefined;
  /** Prompt + completion tokens of live (not cached) calls. */
  maxTokens?: number | undefined;
  maxCost?: number | undefined;
}

/** A run's state: the checkpoint snapshot plus every accepted instruction. */
export interface AugmentState extends Omit<CheckpointSnapshot, "acceptedCount"> {
  accepted: AcceptedInstruction[];
}

export interface AugmentProgress {
  step: number;
  steps: number;
  accepted: number;
  candidates: number;
  /** accepted / candidates so far. */
  acceptanceRate: number;
  calls: number;
  cost: number;
}

export type StopReason = "steps" | "budget" | "aborted";

export interface AugmentReport {
  stoppedBy: StopReason;
  steps: number;
  seeds: number;
  candidates: number;
  accepted: number;
  acceptanceRate: number;
  rejected: Record<RejectReason, number>;
  diversity: DiversityStats;
  lexicon: {
    size: number;
    /** Distinct lexicon terms used by the accepted instructions. */
    distinctTerms: number;
    meanTermsPerInstruction: number;
  };
  usage: AugmentUsage;
  bankSizes: { question: number; answer: number };
  parameters: Record<string, unknown>;
}

export interface AugmentResult {
  instructions: AcceptedInstruction[];
  banks: Banks;
  stoppedBy: StopReason;
  report: AugmentReport;
  state: AugmentState;
}

export interface AugmentOptions {
  model: ChatModel;
  /**
   * Seed instructions (e.g. `defaultSeeds("single")`). A full history from the first step needs
   * `2 × (shots + 1)` distinct seeds (12 for 5 shots), so that either bank, before or after a swap, holds
   * `shots` questions plus the query; fewer throw `TOO_FEW_SEEDS` unless `shortHistory` is set.
   */
  seeds: readonly string[];
  /** Steps to run in total (a resumed run continues up to this). */
  steps: number;
  /** Seed of the shuffle, the sampling and the per-step `seed` sent to the model. @default 0 */
  seed?: number | undefined;
  /** Question/answer pairs in the historical dialogue. @default 5 */
  shots?: number | undefined;
  /**
   * `"figure2"`: the paper's layout, {Q1}{Prompt}{A1} … {Q5}{Prompt}{A5} then {Q}{Prompt}, one instruction per
   * answer. `"numbered"`: bare questions in the history and a last turn asking for about `requestCount`
   * instructions as a numbered list, several candidates per call. @default "figure2"
   */
  layout?: PromptLayout | undefined;
  /** Language of the templates, the filter and the default lexicon. @default "zh" */
  language?: InstructionLanguage | undefined;
  /**
   * Allow fewer seeds than a full history needs (and `retainOldest + retainNewest < shots + 1`): the history is
   * then as long as the banks allow, min(shots, Answer Bank, Question Bank − 1) turns, and grows as they fill;
   * with one seed the first step has none. @default false
   */
  shortHistory?: boolean | undefined;
  /** Numbered layout: how many new instructions the request asks for. @default 5 */
  requestCount?: number | undefined;
  /** Retention: the oldest `retainOldest` and newest `retainNewest` instructions stay in each bank. @default 20 */
  retainOldest?: number | undefined;
  /** @default 80 */
  retainNewest?: number | undefined;
  /** Swap the banks after every `swapEvery` steps (0: never). @default 10 */
  swapEvery?: number | undefined;
  /** Override some or all of the language's default templates (`defaultTemplates(language)`). */
  templates?: Partial<PromptTemplates> | undefined;
  /** Over the language's defaults (`resolveFilter`). */
  filter?: FilterOptions | undefined;
  /** @default defaultMedicalLexicon(language) */
  lexicon?: MedicalLexicon | undefined;
  /** Sampling parameters for the model. @default { temperature: 0.9, maxTokens: 1024 } */
  chat?: Omit<ChatOptions, "signal" | "seed" | "n"> | undefined;
  /** Where to checkpoint after every step; without it a run cannot resume. */
  checkpointPath?: string | undefined;
  /** Continue from `checkpointPath` when it exists. @default false */
  resume?: boolean | undefined;
  budget?: AugmentBudget | undefined;
  /** Prices per million tokens for the cost figures. @default free */
  pricing?: Pricing | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: AugmentProgress) => void) | undefined;
}

const emptyRejected = (): Record<RejectReason, number> => Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;

function cleanSeeds(seeds: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const s of seeds) {
    const t = s.trim();
    if (t && !seen.has(t)) {
      seen.add(t);
      out.push(t);
    }
  }
  return out;
}

function resolved(opts: AugmentOptions) {
  const layout = opts.layout ?? "figure2";
  const language = opts.language ?? "zh";
  if (!PROMPT_LAYOUTS.includes(layout)) throw new AugmentError(`layout must be ${PROMPT_LAYOUTS.join(" or ")}, got ${String(layout)}`, { code: "BAD_OPTIONS", field: "layout" });
  if (!INSTRUCTION_LANGUAGES.includes(language)) {
    throw new AugmentError(`language must be ${INSTRUCTION_LANGUAGES.join(" or ")}, got ${String(language)}`, { code: "BAD_OPTIONS", field: "language" });
  }
  const p = {
    seed: opts.seed ?? 0,
    shots: opts.shots ?? 5,
    layout,
    language,
    shortHistory: opts.shortHistory ?? false,
    requestCount: opts.requestCount ?? 5,
    retainOldest: opts.retainOldest ?? 20,
    retainNewest: opts.retainNewest ?? 80,
    swapEvery: opts.swapEvery ?? 10,
    templates: { ...defaultTemplates(language), ...definedOnly(opts.templates) },
    filter: resolveFilter(opts.filter, language),
    chat: { temperature: 0.9, maxTokens: 1024, ...opts.chat },
  };
  for (const [k, v] of Object.entries({ shots: p.shots, requestCount: p.requestCount, retainOldest: p.retainOldest, retainNewest: p.retainNewest, swapEvery: p.swapEvery, steps: opts.steps })) {
    if (!Number.isInteger(v) || v < 0) throw new AugmentError(`${k} must be a non-negative integer, got ${v}`, { code: "BAD_OPTIONS", field: k });
  }
  if (p.retainOldest + p.retainNewest < 1) throw new AugmentError("retainOldest + retainNewest must be at least 1", { code: "BAD_OPTIONS", field: "retainNewest" });
  // A bank trimmed below shots + 1 could not give a full history once it becomes the Question Bank.
  if (!p.shortHistory && p.shots > 0 && p.retainOldest + p.retainNewest < p.shots + 1) {
    throw new AugmentError(`retainOldest + retainNewest must be at least shots + 1 = ${p.shots + 1} for a full history (or set shortHistory)`, {
      code: "BAD_OPTIONS",
      field: "retainNewest",
    });
  }
  return p;
}

/** Seeds a full `shots`-turn history needs from the first step: each bank must hold shots questions + the query. */
export function seedsForFullHistory(shots: number): number {
  return shots === 0 ? 1 : 2 * (shots + 1);
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  if (!o) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function configHash(seeds: string[], model: string, p: ReturnType<typeof resolved>, lexiconSize: number): string {
  const { chat, ...rest } = p;
  return createHash("sha256").update(JSON.stringify({ seeds, model, ...rest, chat, lexiconSize })).digest("hex").slice(0, 16);
}

function isBudgetError(e: unknown): boolean {
  return e instanceof Error && e.name === "LlmError" && (e as { code?: string }).code === "BUDGET_EXCEEDED";
}

function overBudget(u: AugmentUsage, b: AugmentBudget | undefined): boolean {
  if (!b) return false;
  const live = u.calls - u.cachedCalls;
  return (
    (b.maxCalls !== undefined && live >= b.maxCalls) ||
    (b.maxTokens !== undefined && u.promptTokens + u.completionTokens >= b.maxTokens) ||
    (b.maxCost !== undefined && u.cost >= b.maxCost)
  );
}

/**
 * Multi-turn instruction augmentation (SF-Med §3.2): grow a set of medical instructions from seeds with two
 * banks and a historical-dialogue prompt. Each step samples the banks ({@link sampleStep}), builds the prompt
 * ({@link buildHistoryPrompt}), asks the model, splits ({@link splitCandidates}) and filters
 * ({@link checkCandidate}) the answer, returns half of the accepted instructions to each bank
 * ({@link returnAccepted}), trims the banks ({@link retainBanks}) and swaps them every K steps ({@link maybeSwap}).
 *
 * Deterministic given the seed and the model's answers; with `checkpointPath` the state is written atomically
 * after every step and `resume` continues exactly where the last finished step left off.
 *
 * @throws {AugmentError} for bad seeds, options or checkpoints; model errors propagate (the checkpoint holds
 *   every finished step, so the run can resume).
 */
export async function augmentInstructions(opts: AugmentOptions): Promise<AugmentResult> {
  const seeds = cleanSeeds(opts.seeds);
  if (seeds.length < 1) throw new AugmentError("need at least one non-empty seed instruction", { code: "BAD_SEEDS", field: "seeds" });
  const p = resolved(opts);
  const need = seedsForFullHistory(p.shots);
  if (!p.shortHistory && seeds.length < need) {
    throw new AugmentError(
      `a ${p.shots}-turn history needs at least ${need} distinct seed instructions (${p.shots + 1} per bank: ${p.shots} questions and the query), got ${seeds.length}; ` +
        "add seeds (defaultSeeds() has 12 per pool), lower shots, or set shortHistory to start with a shorter history",
      { code: "TOO_FEW_SEEDS", field: "seeds" },
    );
  }
  const lexicon = opts.lexicon ?? defaultMedicalLexicon(p.language);
  const hash = configHash(seeds, opts.model.name, p, lexicon.size);

  let state: AugmentState | undefined;
  if (opts.resume && opts.checkpointPath) {
    const loaded = await loadCheckpoint(opts.checkpointPath);
    if (loaded) {
      const { acceptedCount: _, ...snap } = loaded.snapshot;
      state = { ...snap, accepted: loaded.accepted };
    }
    if (state && state.configHash !== hash) {
      throw new AugmentError("checkpoint was made with other seeds, model or parameters; remove it or use the same ones", {
        code: "CHECKPOINT_MISMATCH",
        file: opts.checkpointPath,
      });
    }
  }
  let rng: SeededRandom;
  if (state) rng = SeededRandom.fromState(state.rng);
  else {
    rng = SeededRandom.fromSeed(p.seed);
    const banks = splitSeeds(seeds, rng);
    state = {
      version: 2,
      configHash: hash,
      step: 0,
      rng: rng.state(),
      banks,
      accepted: [],
      candidates: 0,
      rejected: emptyRejected(),
      usage: { calls: 0, cachedCalls: 0, promptTokens: 0, completionTokens: 0, cost: 0 },
    };
    if (opts.checkpointPath) await startCheckpoint(opts.checkpointPath, snapshotOf(state));
  }

  const seen = new Set<string>([...seeds, ...state.accepted.map((a) => a.text)]);
  let stoppedBy: StopReason = "steps";
  const progress = (s: AugmentState) =>
    opts.onProgress?.({
      step: s.step,
      steps: opts.steps,
      accepted: s.accepted.length,
      candidates: s.candidates,
      acceptanceRate: s.candidates === 0 ? 0 : s.accepted.length / s.candidates,
      calls: s.usage.calls,
      cost: s.usage.cost,
    });
  progress(state);

  // Figure 2: the answer is one instruction (its lines joined); numbered: one candidate per line.
  const split = p.layout === "figure2" ? { mode: "one" as const, joiner: p.language === "en" ? " " : "" } : { mode: "list" as const };
  while (state.step < opts.steps) {
    if (opts.signal?.aborted) {
      stoppedBy = "aborted";
      break;
    }
    if (overBudget(state.usage, opts.budget)) {
      stoppedBy = "budget";
      break;
    }
    const stepNo: number = state.step + 1;
    // Work on copies: a failed call leaves the checkpointed state (and RNG) untouched.
    const stepRng = SeededRandom.fromState(state.rng);
    const sample = sampleStep(state.banks, p.shots, stepRng);
    const messages = buildHistoryPrompt(sample, { layout: p.layout, language: p.language, templates: p.templates, count: p.requestCount });
    let res;
    try {
      res = await opts.model.chat(messages, { ...p.chat, seed: (p.seed + stepNo) >>> 0, ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (e) {
      if (opts.signal?.aborted) {
        stoppedBy = "aborted";
        break;
      }
      if (isBudgetError(e)) {
        stoppedBy = "budget";
        break;
      }
      throw e;
    }
    const usage: AugmentUsage = { ...state.usage, calls: state.usage.calls + 1 };
    if (res.cached) usage.cachedCalls++;
    else {
      usage.promptTokens += res.usage.promptTokens;
      usage.completionTokens += res.usage.completionTokens;
      if (opts.pricing) usage.cost += (res.usage.promptTokens * opts.pricing.inputPerMillion + res.usage.completionTokens * opts.pricing.outputPerMillion) / 1e6;
    }
    const rejected: Record<RejectReason, number> = { ...state.rejected };
    const acceptedNow: AcceptedInstruction[] = [];
    let candidates = 0;
    const pool = [...state.banks.question, ...state.banks.answer];
    res.texts.forEach((text, i) => {
      for (const c of splitCandidates(text, { truncated: res.finishReasons[i] === "length", ...split })) {
        candidates++;
        const v = checkCandidate(c, { lexicon, pool, seen }, p.filter);
        if (v.ok) {
          acceptedNow.push({ text: c, step: stepNo, terms: v.terms, maxRougeL: v.maxRougeL });
          seen.add(c);
          pool.push(c);
        } else rejected[v.reason]++;
      }
    });
    let banks = returnAccepted(
      state.banks,
      acceptedNow.map((a) => a.text),
      stepRng,
    );
    banks = retainBanks(banks, p.retainOldest, p.retainNewest);
    banks = maybeSwap(banks, stepNo, p.swapEvery);
    state = {
      ...state,
      step: stepNo,
      rng: stepRng.state(),
      banks,
      // Appended in place below; if saving the step fails the run throws and this in-memory list is dropped.
      accepted: state.accepted,
      candidates: state.candidates + candidates,
      rejected,
      usage,
    };
    state.accepted.push(...acceptedNow);
    if (opts.checkpointPath) await saveStep(opts.checkpointPath, snapshotOf(state), acceptedNow);
    progress(state);
  }

  return { instructions: state.accepted, banks: state.banks, stoppedBy, state, report: buildReport(state, stoppedBy, seeds.length, lexicon, p, opts) };
}

function snapshotOf(s: AugmentState): CheckpointSnapshot {
  const { accepted, ...rest } = s;
  return { ...rest, acceptedCount: accepted.length };
}

function buildReport(s: AugmentState, stoppedBy: StopReason, seeds: number, lexicon: MedicalLexicon, p: ReturnType<typeof resolved>, opts: AugmentOptions): AugmentReport {
  const texts = s.accepted.map((a) => a.text);
  const terms = new Set<string>();
  let termCount = 0;
  for (const a of s.accepted) {
    for (const t of a.terms) terms.add(t);
    termCount += a.terms.length;
  }
  return {
    stoppedBy,
    steps: s.step,
    seeds,
    candidates: s.candidates,
    accepted: s.accepted.length,
    acceptanceRate: s.candidates === 0 ? 0 : s.accepted.length / s.candidates,
    rejected: s.rejected,
    diversity: diversityStats(texts),
    lexicon: { size: lexicon.size, distinctTerms: terms.size, meanTermsPerInstruction: s.accepted.length === 0 ? 0 : termCount / s.accepted.length },
    usage: s.usage,
    bankSizes: { question: s.banks.question.length, answer: s.banks.answer.length },
    parameters: {
      model: opts.model.name,
      steps: opts.steps,
      seed: p.seed,
      shots: p.shots,
      layout: p.layout,
      language: p.language,
      shortHistory: p.shortHistory,
      requestCount: p.requestCount,
      retainOldest: p.retainOldest,
      retainNewest: p.retainNewest,
      swapEvery: p.swapEvery,
      filter: p.filter,
      chat: p.chat,
      configHash: s.configHash,
    },
  };
}
