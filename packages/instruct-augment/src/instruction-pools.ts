import type { Dialogue } from "@sfmed/schema";

/** System instructions for single-turn and for multi-turn dialogues. */
export interface InstructionPools {
  single: string[];
  multi: string[];
}

/** The two starting examples, one per pool, that the augmentation grows from. */
export const SEED_INSTRUCTIONS: Readonly<InstructionPools> = Object.freeze({
  single: ["你是一名专业的医生，请根据患者描述的症状，给出准确、详细且通俗易懂的医学解答和就医建议。"],
  multi: ["你是一名经验丰富的医生，正在与患者进行多轮问诊，请结合之前的对话内容逐步询问病情，最后给出诊断意见和治疗建议。"],
});

/** Fresh copies of {@link SEED_INSTRUCTIONS}. */
export function defaultPools(): InstructionPools {
  return { single: [...SEED_INSTRUCTIONS.single], multi: [...SEED_INSTRUCTIONS.multi] };
}

export interface ApplyOptions {
  /** Picks are a hash of (seed, dialogue id): the same for a dialogue whatever the order or batch. @default 0 */
  seed?: number | undefined;
  /**
   * A dialogue that already has a system message: `"keep"` it, or `"replace"` it with one from the pool.
   * @default "keep"
   */
  existing?: "keep" | "replace" | undefined;
}

/** Which pool a dialogue draws from: `multi` when it has more than one user turn. */
export function poolFor(d: Pick<Dialogue, "messages">): keyof InstructionPools {
  let users = 0;
  for (const m of d.messages) if (m.role === "user") users++;
  return users > 1 ? "multi" : "single";
}

// FNV-1a over the id's UTF-16 units, mixed with the seed; a stable, order-free choice.
function pick(id: string, seed: number, n: number): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // murmur3's finaliser, then scale (not modulo) so every pool entry is equally likely.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return Math.floor(((h >>> 0) / 4294967296) * n);
}

/**
 * Give one dialogue a system instruction from the pool matching its turn count (single or multi). The pick is
 * recorded in `meta.instructionPool` and `meta.instructionIndex`.
 * @throws RangeError when the matching pool is empty
 */
export function attachInstruction(d: Dialogue, pools: InstructionPools, opts: ApplyOptions = {}): Dialogue {
  const hasSystem = d.messages[0]?.role === "system";
  if (hasSystem && (opts.existing ?? "keep") === "keep") return d;
  const which = poolFor(d);
  const pool = pools[which];
  if (pool.length === 0) throw new RangeError(`the ${which}-turn instruction pool is empty`);
  const index = pick(d.id, opts.seed ?? 0, pool.length);
  const rest = hasSystem ? d.messages.slice(1) : d.messages;
  return {
    ...d,
    messages: [{ role: "system", content: pool[index]! }, ...rest],
    meta: { ...d.meta, instructionPool: which, instructionIndex: index },
  };
}

/** {@link attachInstruction} over many dialogues. */
export function applyInstructions(dialogues: Iterable<Dialogue>, pools: InstructionPools, opts: ApplyOptions = {}): Dialogue[] {
  const out: Dialogue[] = [];
  for (const d of dialogues) out.push(attachInstruction(d, pools, opts));
  return out;
}

/** {@link attachInstruction} over a stream of dialogues (e.g. `readRecords` from `@sfmed/schema`), in order. */
export async function* applyInstructionsStream(
  dialogues: AsyncIterable<Dialogue> | Iterable<Dialogue>,
  pools: InstructionPools,
  opts: ApplyOptions = {},
): AsyncGenerator<Dialogue> {
  for await (const d of dialogues) yield attachInstruction(d, pools, opts);
}
