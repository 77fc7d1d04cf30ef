// One step of augmentInstructions (SF-Med §3.2): sample the banks, ask the model, filter its answer, update the banks.
import type { ChatModel, ChatResult, Pricing } from "@sfmed/llm";
import type { AcceptedInstruction, AugmentUsage } from "./augment-checkpoint.js";
import type { AugmentBudget, AugmentState, StopReason } from "./augment-instructions.js";
import type { Resolved } from "./augment-options.js";
import { buildHistoryPrompt } from "./history-prompt.js";
import type { MedicalLexicon } from "./medical-lexicon.js";
import { maybeSwap, retainBanks, returnAccepted, sampleStep } from "./question-answer-banks.js";
import { checkCandidate, type RejectReason } from "./quality-filter.js";
import { SeededRandom } from "./seeded-random.js";
import { splitCandidates } from "./split-candidates.js";

export interface StepContext {
  model: ChatModel;
  p: Resolved;
  lexicon: MedicalLexicon;
  /** Seeds and every accepted instruction so far (grows as candidates are accepted). */
  seen: Set<string>;
  pricing?: Pricing | undefined;
  signal?: AbortSignal | undefined;
}

function isBudgetError(e: unknown): boolean {
  return e instanceof Error && e.name === "LlmError" && (e as { code?: string }).code === "BUDGET_EXCEEDED";
}

/** Whether the run's usage has reached one of the budget's caps. */
export function overBudget(u: AugmentUsage, b: AugmentBudget | undefined): boolean {
  if (!b) return false;
  const live = u.calls - u.cachedCalls;
  return (
    (b.maxCalls !== undefined && live >= b.maxCalls) ||
    (b.maxTokens !== undefined && u.promptTokens + u.completionTokens >= b.maxTokens) ||
    (b.maxCost !== undefined && u.cost >= b.maxCost)
  );
}

function usageAfter(u: AugmentUsage, res: ChatResult, pricing: Pricing | undefined): AugmentUsage {
  const usage: AugmentUsage = { ...u, calls: u.calls + 1 };
  if (res.cached) usage.cachedCalls++;
  else {
    usage.promptTokens += res.usage.promptTokens;
    usage.completionTokens += res.usage.completionTokens;
    if (pricing) usage.cost += (res.usage.promptTokens * pricing.inputPerMillion + res.usage.completionTokens * pricing.outputPerMillion) / 1e6;
  }
  return usage;
}

/** Split the model's answer into candidates and filter them against the banks and everything seen so far. */
function filterAnswer(res: ChatResult, state: AugmentState, stepNo: number, ctx: StepContext) {
  const { p } = ctx;
  // Figure 2: the answer is one instruction (its lines joined); numbered: one candidate per line.
  const split = p.layout === "figure2" ? { mode: "one" as const, joiner: p.language === "en" ? " " : "" } : { mode: "list" as const };
  const rejected: Record<RejectReason, number> = { ...state.rejected };
  const accepted: AcceptedInstruction[] = [];
  let candidates = 0;
  const pool = [...state.banks.question, ...state.banks.answer];
  res.texts.forEach((text, i) => {
    for (const c of splitCandidates(text, { truncated: res.finishReasons[i] === "length", ...split })) {
      candidates++;
      const v = checkCandidate(c, { lexicon: ctx.lexicon, pool, seen: ctx.seen }, p.filter);
      if (v.ok) {
        accepted.push({ text: c, step: stepNo, terms: v.terms, maxRougeL: v.maxRougeL });
        ctx.seen.add(c);
        pool.push(c);
      } else rejected[v.reason]++;
    }
  });
  return { accepted, candidates, rejected };
}

/**
 * Run the step after `state`. Works on copies: a failed call leaves `state` (and its RNG) untouched. An abort or a
 * budget error from the model ends the run instead of failing it.
 * @returns the next state (its `accepted` is `state.accepted`, not yet extended) and the step's new instructions
 */
export async function runStep(state: AugmentState, ctx: StepContext): Promise<{ next: AugmentState; accepted: AcceptedInstruction[] } | { stop: StopReason }> {
  const { p } = ctx;
  const stepNo = state.step + 1;
  const stepRng = SeededRandom.fromState(state.rng);
  const sample = sampleStep(state.banks, p.shots, stepRng);
  const messages = buildHistoryPrompt(sample, { layout: p.layout, language: p.language, templates: p.templates, count: p.requestCount });
  let res: ChatResult;
  try {
    res = await ctx.model.chat(messages, { ...p.chat, seed: (p.seed + stepNo) >>> 0, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  } catch (e) {
    if (ctx.signal?.aborted) return { stop: "aborted" };
    if (isBudgetError(e)) return { stop: "budget" };
    throw e;
  }
  const usage = usageAfter(state.usage, res, ctx.pricing);
  const { accepted, candidates, rejected } = filterAnswer(res, state, stepNo, ctx);
  let banks = returnAccepted(
    state.banks,
    accepted.map((a) => a.text),
    stepRng,
  );
  banks = retainBanks(banks, p.retainOldest, p.retainNewest);
  banks = maybeSwap(banks, stepNo, p.swapEvery);
  const next: AugmentState = { ...state, step: stepNo, rng: stepRng.state(), banks, candidates: state.candidates + candidates, rejected, usage };
  return { next, accepted };
}
