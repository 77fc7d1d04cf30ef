import type { Message } from "@sfmed/schema";
import type { StepSample } from "./question-answer-banks.js";

/** Language of the seeds, the prompt and the filter. */
export type InstructionLanguage = "zh" | "en";

/**
 * How a step's prompt is laid out.
 * - `"figure2"` (the paper's Figure 2): every history turn is `{Q}{Prompt}` as the user turn answered by one
 *   Answer Bank instruction, and the current query is `{Q}{Prompt}`; the model answers with one instruction.
 * - `"numbered"`: the history turns are the bare questions, and the last user turn asks for about `{count}`
 *   instructions as a numbered list.
 */
export type PromptLayout = "figure2" | "numbered";

export const PROMPT_LAYOUTS: readonly PromptLayout[] = ["figure2", "numbered"];
export const INSTRUCTION_LANGUAGES: readonly InstructionLanguage[] = ["zh", "en"];

/** Texts around the historical dialogue. */
export interface PromptTemplates {
  /** Optional system message before the dialogue. @default none */
  system?: string | undefined;
  /** Figure 2's `{Prompt}`: put after the question (on a new line) in every history turn and in the current query. */
  extendPrompt: string;
  /** Numbered layout: the last user turn. `{query}` and `{count}` are replaced. */
  request: string;
}

/** Chinese templates. `extendPrompt` is our translation of the prompt in the paper's Figure 2. */
export const DEFAULT_TEMPLATES: PromptTemplates = {
  extendPrompt: "现在你想根据以上指令，扩展出更多语义相近的指令：",
  request:
    "{query}\n\n现在请根据以上指令，扩展出更多含义相同的指令。要求：每条指令是一句完整的中文句子，使用医学专业术语，" +
    "与已有指令的表述不同；按编号逐行列出约{count}条，不要输出其他内容。",
};

/** English templates. `extendPrompt` is the prompt of the paper's Figure 2, word for word. */
export const DEFAULT_TEMPLATES_EN: PromptTemplates = {
  extendPrompt: "Now you want to extend some more semantic instructions based on the above instructions:",
  request:
    "{query}\n\nNow extend the instruction above into more instructions with the same meaning. Requirements: each " +
    "instruction is one complete English sentence, uses medical terminology and is worded differently from the " +
    "existing ones; give about {count} of them as a numbered list, one per line, and output nothing else.",
};

/** The default templates of a language. */
export function defaultTemplates(language: InstructionLanguage = "zh"): PromptTemplates {
  return language === "en" ? DEFAULT_TEMPLATES_EN : DEFAULT_TEMPLATES;
}

export interface BuildPromptOptions {
  /** @default "figure2" */
  layout?: PromptLayout | undefined;
  /** Picks the default templates. @default "zh" */
  language?: InstructionLanguage | undefined;
  /** Override some or all of the language's default templates. */
  templates?: Partial<PromptTemplates> | undefined;
  /** Numbered layout: how many new instructions to ask for. @default 5 */
  count?: number | undefined;
}

/**
 * Steps 2–3 as messages. Q1 … Qk come from the Question Bank and A1 … Ak from the Answer Bank, as alternating
 * user/assistant turns, then the current query as the final user turn.
 * - figure2: `Qi\n{extendPrompt}` → `Ai`, …, then `query\n{extendPrompt}` ({Q1}{Prompt}{A1} … {Q5}{Prompt}{A5}).
 * - numbered: `Qi` → `Ai`, …, then the `request` template with `{query}` and `{count}` filled in.
 */
export function buildHistoryPrompt(sample: StepSample, opts: BuildPromptOptions = {}): Message[] {
  const t: PromptTemplates = { ...defaultTemplates(opts.language), ...definedOnly(opts.templates) };
  const figure2 = (opts.layout ?? "figure2") === "figure2";
  const ask = (q: string) => (figure2 ? `${q}\n${t.extendPrompt}` : q);
  const msgs: Message[] = [];
  if (t.system) msgs.push({ role: "system", content: t.system });
  sample.questions.forEach((q, i) => {
    msgs.push({ role: "user", content: ask(q) });
    msgs.push({ role: "assistant", content: sample.answers[i]! });
  });
  // Function replacers: a query holding `$&`, `` $` `` or `$'` must be inserted as written, not expanded.
  const count = String(opts.count ?? 5);
  const last = figure2 ? ask(sample.query) : t.request.replaceAll("{query}", () => sample.query).replaceAll("{count}", () => count);
  msgs.push({ role: "user", content: last });
  return msgs;
}

// `{ request: undefined }` must not erase the default.
function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  if (!o) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
