// Prompts of the record shapes @sfmed/schema reads: what a model is asked when a record is "answered".
import { ValidationError, type Message } from "@sfmed/schema";
import type { ChatModel, ChatOptions } from "./types.js";

/** The default multiple-choice prompt: the stem, one line per option (`A. …`), and the answer cue `答案：`. */
export function choicePrompt(question: string, options: Readonly<Record<string, string>>): string {
  const lines = Object.entries(options).map(([k, v]) => `${k}. ${v}`);
  return `${question}\n${lines.join("\n")}\n答案：`;
}

/** Where a record was read, for the error a record without a prompt raises. */
export interface RecordLocation {
  file: string;
  line: number;
}

/**
 * The prompt of a record: a ChoiceQuestion (stem and options, see {@link choicePrompt}), `prompt` messages
 * (ReferenceQA, PreferencePair, candidate sets), a Dialogue without its last answer, or a bare `question`.
 * @throws ValidationError (field `prompt`, naming file and line) when the record has none of these.
 */
export function promptOfRecord(record: unknown, where: RecordLocation): Message[] {
  const r = (record ?? {}) as { prompt?: unknown; messages?: unknown; question?: unknown; options?: unknown };
  if (typeof r.question === "string" && r.options && typeof r.options === "object") {
    return [{ role: "user", content: choicePrompt(r.question, r.options as Record<string, string>) }];
  }
  if (Array.isArray(r.prompt)) return r.prompt as Message[];
  if (Array.isArray(r.messages)) {
    const msgs = r.messages as Message[];
    const end = msgs.at(-1)?.role === "assistant" ? msgs.length - 1 : msgs.length;
    if (end > 0) return msgs.slice(0, end);
  }
  if (typeof r.question === "string") return [{ role: "user", content: r.question }];
  throw new ValidationError("no prompt: expected `prompt` (messages), `messages` or `question`", { file: where.file, line: where.line, field: "prompt" });
}

/**
 * `n` answers to one prompt as `n` single-answer calls with seeds `seed`, `seed + 1`, …: servers differ in
 * honouring the `n` parameter, and distinct seeds keep the answers reproducible and distinct under sampling.
 */
export async function sampleAnswers(model: ChatModel, prompt: Message[], n: number, options: ChatOptions & { seed: number }): Promise<string[]> {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  const texts: string[] = [];
  for (let k = 0; k < n; k++) texts.push(...(await model.chat(prompt, { ...options, seed: options.seed + k })).texts.slice(0, 1));
  return texts;
}
