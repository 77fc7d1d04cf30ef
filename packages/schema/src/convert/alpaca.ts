import type { Dialogue, Message, PreferencePair } from "../records.js";
import { asObject, defineConverter, optStr, str, verbatimId, type RowContext } from "./converter.js";

/** Alpaca column names (LLaMA-Factory calls them prompt/query/response/history/system). */
export interface AlpacaColumns {
  prompt: string;
  query: string;
  response: string;
  history: string;
  system: string;
}

export const ALPACA_COLUMNS: AlpacaColumns = { prompt: "instruction", query: "input", response: "output", history: "history", system: "system" };

/** `instruction` and `input` joined the way Alpaca's own template reads them (instruction, blank line, input). */
export function alpacaPrompt(instruction: string, input: string | undefined): string {
  return input ? (instruction ? `${instruction}\n\n${input}` : input) : instruction;
}

/**
 * Map an Alpaca-style object to Dialogue messages: optional system, `history` pairs as earlier turns, then
 * instruction (+ input) → output.
 */
export function alpacaMessages(obj: Record<string, unknown>, ctx: RowContext<unknown>, cols: AlpacaColumns = ALPACA_COLUMNS): Message[] {
  const messages: Message[] = [];
  const system = optStr(obj, cols.system, ctx);
  if (system) messages.push({ role: "system", content: system });
  const history = obj[cols.history];
  if (history !== undefined && history !== null) {
    if (!Array.isArray(history)) ctx.fail(`"${cols.history}" must be a list of [question, answer] pairs`, cols.history);
    for (const [i, pair] of history.entries()) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
        ctx.fail("expected a [question, answer] pair of strings", `${cols.history}[${i}]`);
      }
      messages.push({ role: "user", content: pair[0] }, { role: "assistant", content: pair[1] });
    }
  }
  const prompt = alpacaPrompt(str(obj, cols.prompt, ctx), optStr(obj, cols.query, ctx));
  messages.push({ role: "user", content: prompt }, { role: "assistant", content: str(obj, cols.response, ctx) });
  return messages;
}

/** Keep `source` and `meta` when an Alpaca/ShareGPT row carries them (our own exports do). */
export function passThrough(obj: Record<string, unknown>): { source?: string; meta?: Record<string, unknown> } {
  const out: { source?: string; meta?: Record<string, unknown> } = {};
  if (typeof obj.source === "string") out.source = obj.source;
  if (obj.meta && typeof obj.meta === "object" && !Array.isArray(obj.meta)) out.meta = obj.meta as Record<string, unknown>;
  return out;
}

/** `alpaca`: `{instruction, input?, output, system?, history?}` (JSON array or JSONL) → Dialogue. */
export const alpaca = defineConverter({
  name: "alpaca",
  kind: "dialogue",
  description: "Alpaca {instruction, input, output, system?, history?} → Dialogue",
  map(value, ctx): Dialogue {
    const obj = asObject(value, ctx);
    return {
      id: verbatimId(obj.id) ?? `alpaca:${ctx.stem}:${ctx.index}`,
      source: "alpaca",
      ...passThrough(obj),
      messages: alpacaMessages(obj, ctx),
    };
  },
});

/** Error when a record cannot be written in a target format. */
export class ExportError extends Error {
  override readonly name = "ExportError";
  constructor(
    message: string,
    readonly id: string | undefined,
  ) {
    super(id ? `record ${id}: ${message}` : message);
  }
}

/** Split messages into system, earlier [user, assistant] pairs, and the final user prompt. */
export function splitTurns(messages: Message[], id?: string): { system?: string; history: Array<[string, string]>; last: string } {
  let i = 0;
  let system: string | undefined;
  if (messages[0]?.role === "system") {
    system = messages[0].content;
    i = 1;
  }
  const rest = messages.slice(i);
  if (rest.length % 2 !== 1) throw new ExportError("expected alternating user/assistant turns ending with a user turn", id);
  const history: Array<[string, string]> = [];
  for (let k = 0; k + 1 < rest.length; k += 2) {
    const u = rest[k]!;
    const a = rest[k + 1]!;
    if (u.role !== "user" || a.role !== "assistant") throw new ExportError("turns must alternate user/assistant", id);
    history.push([u.content, a.content]);
  }
  const last = rest[rest.length - 1]!;
  if (last.role !== "user") throw new ExportError("the prompt must end with a user turn", id);
  return { ...(system !== undefined ? { system } : {}), history, last: last.content };
}

/** An Alpaca row (LLaMA-Factory's alpaca style). */
export interface AlpacaRow {
  id?: string;
  source?: string;
  instruction: string;
  input: string;
  output?: string;
  chosen?: string;
  rejected?: string;
  system?: string;
  history?: Array<[string, string]>;
  meta?: Record<string, unknown>;
}

/**
 * Dialogue → Alpaca `{instruction, input: "", output, system?, history?}` (the last turn pair becomes
 * instruction/output); PreferencePair → LLaMA-Factory's ranking style `{instruction, input, chosen, rejected}`.
 *
 * @throws {ExportError} when a dialogue does not end with an assistant turn
 */
export function toAlpaca(record: Dialogue | PreferencePair): AlpacaRow {
  if ("messages" in record) {
    const msgs = record.messages;
    const last = msgs[msgs.length - 1];
    if (!last || last.role !== "assistant") throw new ExportError("an Alpaca row needs a dialogue that ends with an assistant turn", record.id);
    const t = splitTurns(msgs.slice(0, -1), record.id);
    return {
      id: record.id,
      ...(record.source !== undefined ? { source: record.source } : {}),
      instruction: t.last,
      input: "",
      output: last.content,
      ...(t.system !== undefined ? { system: t.system } : {}),
      ...(t.history.length ? { history: t.history } : {}),
      ...(record.meta ? { meta: record.meta } : {}),
    };
  }
  const t = splitTurns(record.prompt, record.id);
  return {
    id: record.id,
    ...(record.source !== undefined ? { source: record.source } : {}),
    instruction: t.last,
    input: "",
    chosen: record.chosen,
    rejected: record.rejected,
    ...(t.system !== undefined ? { system: t.system } : {}),
    ...(t.history.length ? { history: t.history } : {}),
    ...(record.meta ? { meta: record.meta } : {}),
  };
}
