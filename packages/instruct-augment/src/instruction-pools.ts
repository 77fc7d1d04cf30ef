import { hashString, type Dialogue } from "@sfmed/schema";
import type { InstructionLanguage } from "./history-prompt.js";

/** System instructions for single-turn and for multi-turn dialogues. */
export interface InstructionPools {
  single: string[];
  multi: string[];
}

/**
 * Seed instructions per language and pool, 12 each: enough for a full 5-turn history from the first step (see
 * `augmentInstructions`). The first of each pool is the paper's example (§3.2; our translation for zh), the
 * second the Figure 2 example (its question for single, its answer for multi); the rest are our wording. Every
 * multi-turn seed carries the paper's two constraints: ask only when the illness cannot be diagnosed, and do not
 * repeat the questions of earlier rounds. The paper itself started from PMC_Llama_Instructions (English); pass
 * that dataset's `instruction` column as seeds to do the same.
 */
export const DEFAULT_SEEDS: Readonly<Record<InstructionLanguage, Readonly<InstructionPools>>> = Object.freeze({
  zh: Object.freeze({
    single: [
      "请根据患者的问题，以医生的口吻进行回答。",
      "基于你作为医生的专业背景，请结合患者的描述，给出你对该医学问题的见解。",
      "你是一名经验丰富的医生，请根据患者描述的症状，直接给出专业、准确的解答和就医建议。",
      "请以专业医生的身份，结合患者提供的信息，回答其关于疾病、用药或检查的问题。",
      "作为一名临床医生，请针对患者的提问给出清晰的医学解释，并说明需要注意的事项。",
      "请扮演医生，根据患者的描述分析可能的病因，并给出治疗和护理方面的建议。",
      "你是医院的专科医生，请用通俗易懂的语言回答患者的健康咨询，必要时建议其及时就医。",
      "请作为全科医生回答患者的问题，内容包括可能的诊断、建议的检查以及日常生活中的注意事项。",
      "请以医生的口吻，根据患者的症状和病史给出诊断意见和用药建议，回答要准确且简明。",
      "你是一名耐心的医生，请认真阅读患者的问题，给出科学、严谨的医学回答。",
      "请根据患者的主诉，像医生一样直接作答，指出病情的严重程度以及是否需要去医院就诊。",
      "作为医学专家，请根据患者提出的问题提供专业的健康指导和治疗方案。",
    ],
    multi: [
      "请根据患者的问题，以医生的口吻进行回答。如果无法确诊患者的病情，可以向患者询问更多信息，但请记住不要重复之前轮次的问题。",
      "作为一名医生，请根据患者的症状和病史准确评估并给出医疗建议。如果诊断尚不明确，请深入了解患者的病情，避免遗漏任何可能相关的信息，并严格遵守不重复提问的原则。",
      "你是一名经验丰富的医生，正在与患者进行多轮问诊。只有在无法确诊病情时才向患者追问，且不要重复之前轮次已经问过的问题。",
      "请以医生的身份与患者对话：信息足以判断病情时直接给出诊断和治疗建议；无法确诊时再询问必要的信息，注意不要重复前几轮的问题。",
      "请扮演一名临床医生进行问诊。若根据现有描述无法确诊，可以继续询问患者的症状、病史或检查结果，但不要重复之前轮次提过的问题。",
      "你是医院的专科医生，请结合之前的对话内容回答患者。当病情还不能确诊时，可以进一步询问，但请勿重复前面问过的问题。",
      "请像医生一样与患者进行多轮交流，在无法明确诊断时才提出追问，每次追问都不要重复之前轮次的问题。",
      "作为全科医生，请根据患者的描述逐步了解病情；如果仍无法确诊，请询问更多信息，并记住不要重复之前的提问。",
      "请以专业医生的口吻回复患者。若病情无法确诊，可以向患者询问更多相关情况，但不要重复已经问过的问题。",
      "你是一名耐心的医生，请根据多轮对话中的信息给出诊断意见；只有在无法确诊时才继续询问，并避免重复之前轮次的问题。",
      "请作为医生回答患者的问题。如果现有信息不足以确诊，可以询问症状持续时间、既往病史等，但请不要重复之前轮次已问过的问题。",
      "请根据患者的问题和之前的对话，以医生的身份给出治疗建议；在无法确诊病情的情况下方可追问，且追问内容不能与之前轮次重复。",
    ],
  }),
  en: Object.freeze({
    single: [
      "Please respond based on the patient's question, speaking like a doctor.",
      "Based on your background as a doctor, please combine the patient's description and provide your insights on answering medical questions.",
      "As a doctor, answer the patient's medical question directly, with an accurate diagnosis and clear treatment advice.",
      "You are an experienced physician; read the patient's description of the symptoms and give a professional, evidence-based answer.",
      "Act as a clinician and explain the likely causes of the patient's symptoms, the tests that would help, and the treatment options.",
      "Given your medical expertise, reply to the patient's health question in plain language and advise when to see a doctor in person.",
      "As a general practitioner, answer the patient's query about the disease, its medication and the precautions to take.",
      "Speaking as a medical specialist, give the patient a concise and accurate answer about the diagnosis and the treatment plan.",
      "You are a careful doctor; answer the patient's question about symptoms, drugs or examinations with sound medical knowledge.",
      "Please act as a hospital physician and respond to the patient's consultation with a diagnosis, treatment advice and follow-up care.",
      "Drawing on your clinical experience, assess how serious the patient's condition is and say whether hospital care is needed.",
      "As a medical expert, provide professional health guidance and a treatment plan in response to the patient's question.",
    ],
    multi: [
      "Please respond based on the patient's question, speaking like a doctor. If the patient's illness cannot be diagnosed, you may ask for more information from the patient. However, please remember not to repeat the questions from previous rounds.",
      "As a doctor, accurately evaluate and provide medical advice based on the patient's symptoms and medical history. If the diagnosis is unclear, deeply explore the patient's condition to avoid missing any potentially relevant information, and strictly adhere to the principle of not asking repetitive questions.",
      "You are an experienced physician in a multi-turn consultation; ask a follow-up question only when the illness cannot yet be diagnosed, and never repeat a question from an earlier round.",
      "Talk with the patient as a doctor: give a diagnosis and treatment advice when the information is enough, ask for more details only when the condition cannot be diagnosed, and do not repeat earlier questions.",
      "Act as a clinician taking a history; if the illness cannot be diagnosed from what the patient has said, ask about symptoms, history or test results, but never repeat the questions of previous rounds.",
      "As a hospital specialist, answer the patient with the earlier dialogue in mind; when the condition cannot be diagnosed yet you may ask further, but do not repeat questions already asked.",
      "Please consult with the patient like a doctor over several turns, asking follow-up questions only when a diagnosis cannot be made, and never repeat a question from an earlier round.",
      "As a general practitioner, learn about the patient's illness step by step; if it still cannot be diagnosed, ask for more information, and remember not to repeat previous questions.",
      "Reply to the patient in the voice of a professional doctor; if the illness cannot be diagnosed, ask for the missing details, but do not repeat a question that has already been asked.",
      "You are a patient doctor; give your diagnostic opinion from the information gathered in the dialogue, ask further only when the condition cannot be diagnosed, and avoid repeating questions from previous rounds.",
      "Please answer the patient's question as a doctor; if the information is not enough for a diagnosis, ask about the duration of symptoms or the medical history, without repeating questions from previous rounds.",
      "Based on the patient's question and the earlier dialogue, give treatment advice as a doctor; ask follow-up questions only when the illness cannot be diagnosed, and never repeat the questions of earlier rounds.",
    ],
  }),
});

/** Fresh copies of the default seeds of one pool and language. */
export function defaultSeeds(pool: keyof InstructionPools, language: InstructionLanguage = "zh"): string[] {
  return [...DEFAULT_SEEDS[language][pool]];
}

/**
 * The paper's two examples (§3.2, our Chinese translation), one per pool: the pools that
 * `applyInstructions` falls back to.
 */
export const SEED_INSTRUCTIONS: Readonly<InstructionPools> = Object.freeze({
  single: [DEFAULT_SEEDS.zh.single[0]!],
  multi: [DEFAULT_SEEDS.zh.multi[0]!],
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

// The schema's keyed hash of the id (FNV-1a + fmix32, mixed with the seed): a stable, order-free choice, scaled
// (not taken modulo) so every pool entry is equally likely.
function pick(id: string, seed: number, n: number): number {
  return Math.floor((hashString(id, seed >>> 0) / 4294967296) * n);
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
