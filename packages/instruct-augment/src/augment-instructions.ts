import type { ChatModel, ChatOptions, Pricing } from "@sfmed/llm";
import { AugmentError } from "./augment-error.js";
import { AugmentCheckpoint, type AcceptedInstruction, type AugmentUsage, type CheckpointSnapshot } from "./augment-checkpoint.js";
import { configHash, emptyRejected, seedsAndOptions, type Resolved } from "./augment-options.js";
import { overBudget, runStep, type StepContext } from "./augment-step.js";
import { diversityStats, type DiversityStats } from "./diversity-stats.js";
import type { InstructionLanguage, PromptLayout, PromptTemplates } from "./history-prompt.js";
import { defaultMedicalLexicon, type MedicalLexicon } from "./medical-lexicon.js";
import { splitSeeds, type Banks } from "./question-answer-banks.js";
import type { FilterOptions, RejectReason } from "./quality-filter.js";
import { SeededRandom } from "./seeded-random.js";

export { seedsForFullHistory } from "./augment-options.js";

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

/**
 * The state to start from: the checkpoint's when resuming (refused when it was made with other seeds, model or
 * parameters), else a fresh one from the seeds (and a fresh checkpoint when `checkpointPath` is set).
 */
async function openState(opts: AugmentOptions, seeds: string[], seed: number, hash: string): Promise<{ state: AugmentState; checkpoint: AugmentCheckpoint | undefined }> {
  if (opts.resume && opts.checkpointPath) {
    const loaded = await AugmentCheckpoint.resume(opts.checkpointPath);
    if (loaded) {
      const { acceptedCount: _, ...snap } = loaded.snapshot;
      if (snap.configHash !== hash) {
        await loaded.checkpoint.close();
        throw new AugmentError("checkpoint was made with other seeds, model or parameters; remove it or use the same ones", {
          code: "CHECKPOINT_MISMATCH",
          file: opts.checkpointPath,
        });
      }
      return { state: { ...snap, accepted: loaded.accepted }, checkpoint: loaded.checkpoint };
    }
  }
  const rng = SeededRandom.fromSeed(seed);
  const banks = splitSeeds(seeds, rng);
  const state: AugmentState = {
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
  const checkpoint = opts.checkpointPath ? await AugmentCheckpoint.start(opts.checkpointPath, snapshotOf(state)) : undefined;
  return { state, checkpoint };
}

function progressOf(s: AugmentState, steps: number): AugmentProgress {
  return {
    step: s.step,
    steps,
    accepted: s.accepted.length,
    candidates: s.candidates,
    acceptanceRate: s.candidates === 0 ? 0 : s.accepted.length / s.candidates,
    calls: s.usage.calls,
    cost: s.usage.cost,
  };
}

/** Run steps until `opts.steps`, an abort or the budget; after each, the checkpoint records it. */
async function runSteps(state: AugmentState, opts: AugmentOptions, ctx: StepContext, checkpoint: AugmentCheckpoint | undefined): Promise<{ state: AugmentState; stoppedBy: StopReason }> {
  while (state.step < opts.steps) {
    if (opts.signal?.aborted) return { state, stoppedBy: "aborted" };
    if (overBudget(state.usage, opts.budget)) return { state, stoppedBy: "budget" };
    const r = await runStep(state, ctx);
    if ("stop" in r) return { state, stoppedBy: r.stop };
    // Appended in place: if saving the step fails the run throws and this in-memory list is dropped.
    state = r.next;
    state.accepted.push(...r.accepted);
    await checkpoint?.saveStep(snapshotOf(state), r.accepted);
    opts.onProgress?.(progressOf(state, opts.steps));
  }
  return { state, stoppedBy: "steps" };
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
  const { seeds, p } = seedsAndOptions(opts);
  const lexicon = opts.lexicon ?? defaultMedicalLexicon(p.language);
  const hash = configHash(seeds, opts.model.name, p, lexicon.size);
  const opened = await openState(opts, seeds, p.seed, hash);
  const { checkpoint } = opened;
  try {
    opts.onProgress?.(progressOf(opened.state, opts.steps));
    const seen = new Set<string>([...seeds, ...opened.state.accepted.map((a) => a.text)]);
    const ctx: StepContext = { model: opts.model, p, lexicon, seen, pricing: opts.pricing, signal: opts.signal };
    const { state, stoppedBy } = await runSteps(opened.state, opts, ctx, checkpoint);
    return { instructions: state.accepted, banks: state.banks, stoppedBy, state, report: buildReport(state, stoppedBy, seeds.length, lexicon, p, opts) };
  } finally {
    await checkpoint?.close();
  }
}

function snapshotOf(s: AugmentState): CheckpointSnapshot {
  const { accepted, ...rest } = s;
  return { ...rest, acceptedCount: accepted.length };
}

function buildReport(s: AugmentState, stoppedBy: StopReason, seeds: number, lexicon: MedicalLexicon, p: Resolved, opts: AugmentOptions): AugmentReport {
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
