// Option resolution and the run's identity (the hash a checkpoint is tied to) for augmentInstructions.
import { createHash } from "node:crypto";
import type { AugmentOptions } from "./augment-instructions.js";
import { AugmentError } from "./augment-error.js";
import { INSTRUCTION_LANGUAGES, PROMPT_LAYOUTS, defaultTemplates } from "./history-prompt.js";
import { REJECT_REASONS, resolveFilter, type RejectReason } from "./quality-filter.js";

export const emptyRejected = (): Record<RejectReason, number> => Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;

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

export function configHash(seeds: string[], model: string, p: Resolved, lexiconSize: number): string {
  const { chat, ...rest } = p;
  return createHash("sha256").update(JSON.stringify({ seeds, model, ...rest, chat, lexiconSize })).digest("hex").slice(0, 16);
}

export type Resolved = ReturnType<typeof resolved>;

/**
 * The distinct, trimmed seeds of a run and the resolved options, checked in that order (seeds, options, then
 * whether the seeds fill a full history).
 * @throws {AugmentError} BAD_SEEDS without any seed; BAD_OPTIONS; TOO_FEW_SEEDS when a full history needs more
 */
export function seedsAndOptions(opts: AugmentOptions): { seeds: string[]; p: Resolved } {
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
  return { seeds, p };
}
