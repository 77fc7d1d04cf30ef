import type { Message } from "@sfmed/schema";
import type { StepSample } from "./question-answer-banks.js";

/** Texts around the historical dialogue. `{query}` and `{count}` are replaced in `request`. */
export interface PromptTemplates {
  /** Optional system message before the dialogue. @default none */
  system?: string | undefined;
  /** The last user turn: the current query plus the expansion request. */
  request: string;
}

/** Default Chinese templates: the query, then "now extend more instructions with the same meaning". */
export const DEFAULT_TEMPLATES: PromptTemplates = {
  request:
    "{query}\n\n现在请根据以上指令，扩展出更多含义相同的指令。要求：每条指令是一句完整的中文句子，使用医学专业术语，" +
    "与已有指令的表述不同；按编号逐行列出约{count}条，不要输出其他内容。",
};

export interface BuildPromptOptions {
  templates?: PromptTemplates | undefined;
  /** How many new instructions to ask for. @default 5 */
  count?: number | undefined;
}

/**
 * Steps 2–3 as messages: Q1 A1 … Qk Ak as alternating user/assistant turns (questions from the Question Bank,
 * answers from the Answer Bank), then the current query with the expansion request as the final user turn.
 */
export function buildHistoryPrompt(sample: StepSample, opts: BuildPromptOptions = {}): Message[] {
  const t = opts.templates ?? DEFAULT_TEMPLATES;
  const msgs: Message[] = [];
  if (t.system) msgs.push({ role: "system", content: t.system });
  sample.questions.forEach((q, i) => {
    msgs.push({ role: "user", content: q });
    msgs.push({ role: "assistant", content: sample.answers[i]! });
  });
  const request = t.request.replaceAll("{query}", sample.query).replaceAll("{count}", String(opts.count ?? 5));
  msgs.push({ role: "user", content: request });
  return msgs;
}
