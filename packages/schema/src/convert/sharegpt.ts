import type { Dialogue, Message, PreferencePair, Role } from "../records.js";
import { ExportError, passThrough } from "./alpaca.js";
import { asObject, defineConverter, optStr, verbatimId, type RowContext } from "./converter.js";

/** ShareGPT tag names (LLaMA-Factory's `tags` block). */
export interface ShareGptTags {
  messages: string;
  system: string;
  roleTag: string;
  contentTag: string;
  userTag: string;
  assistantTag: string;
  systemTag: string;
}

export const SHAREGPT_TAGS: ShareGptTags = {
  messages: "conversations",
  system: "system",
  roleTag: "from",
  contentTag: "value",
  userTag: "human",
  assistantTag: "gpt",
  systemTag: "system",
};

const USER_ROLES = new Set(["human", "user"]);
const ASSISTANT_ROLES = new Set(["gpt", "assistant", "bot", "model", "chatgpt"]);

function roleOf(tag: string, tags: ShareGptTags): Role | undefined {
  if (tag === tags.userTag || USER_ROLES.has(tag)) return "user";
  if (tag === tags.assistantTag || ASSISTANT_ROLES.has(tag)) return "assistant";
  if (tag === tags.systemTag || tag === "system") return "system";
  return undefined;
}

/**
 * ShareGPT turns → messages. Accepts `conversations` of `{from, value}` and, when absent, OpenAI-style
 * `messages` of `{role, content}`; a top-level `system` string becomes the first message. Tool and observation
 * turns have no place in a Dialogue and are rejected.
 */
export function shareGptMessages(obj: Record<string, unknown>, ctx: RowContext<unknown>, tags: ShareGptTags = SHAREGPT_TAGS): Message[] {
  let key = tags.messages;
  let roleTag = tags.roleTag;
  let contentTag = tags.contentTag;
  if (!Array.isArray(obj[key]) && key === "conversations" && Array.isArray(obj.messages)) {
    key = "messages";
    roleTag = "role";
    contentTag = "content";
  }
  const turns = obj[key];
  if (!Array.isArray(turns)) return ctx.fail(`missing list "${key}"`, key);
  const messages: Message[] = [];
  const system = optStr(obj, tags.system, ctx);
  if (system) messages.push({ role: "system", content: system });
  for (const [i, t] of turns.entries()) {
    if (!t || typeof t !== "object") ctx.fail("expected a turn object", `${key}[${i}]`);
    const turn = t as Record<string, unknown>;
    const tag = turn[roleTag];
    const content = turn[contentTag];
    const role = typeof tag === "string" ? roleOf(tag, tags) : undefined;
    if (!role) ctx.fail(`unsupported role ${JSON.stringify(tag)}`, `${key}[${i}].${roleTag}`);
    if (typeof content !== "string") ctx.fail("content must be a string", `${key}[${i}].${contentTag}`);
    messages.push({ role, content });
  }
  return messages;
}

/** `sharegpt`: `{conversations: [{from, value}], system?}` or `{messages: [{role, content}]}` → Dialogue. */
export const sharegpt = defineConverter({
  name: "sharegpt",
  kind: "dialogue",
  description: "ShareGPT {conversations: [{from: human|gpt|system, value}]} (or OpenAI messages) → Dialogue",
  map(value, ctx): Dialogue {
    const obj = asObject(value, ctx);
    return {
      id: verbatimId(obj.id) ?? `sharegpt:${ctx.stem}:${ctx.index}`,
      source: "sharegpt",
      ...passThrough(obj),
      messages: shareGptMessages(obj, ctx),
    };
  },
});

export interface ShareGptTurn {
  from: "human" | "gpt";
  value: string;
}

/** A ShareGPT row as LLaMA-Factory reads it (system at the top level; ranking rows carry chosen/rejected). */
export interface ShareGptRow {
  id?: string;
  source?: string;
  system?: string;
  conversations: ShareGptTurn[];
  chosen?: ShareGptTurn;
  rejected?: ShareGptTurn;
  meta?: Record<string, unknown>;
}

function turnsOf(messages: Message[], id: string): { system?: string; conversations: ShareGptTurn[] } {
  let system: string | undefined;
  const conversations: ShareGptTurn[] = [];
  for (const [i, m] of messages.entries()) {
    if (m.role === "system") {
      if (i !== 0) throw new ExportError("a system message may only come first", id);
      system = m.content;
    } else conversations.push({ from: m.role === "user" ? "human" : "gpt", value: m.content });
  }
  return { ...(system !== undefined ? { system } : {}), conversations };
}

/** Dialogue → ShareGPT; PreferencePair → LLaMA-Factory's ShareGPT ranking row (`chosen`/`rejected` turns). */
export function toShareGpt(record: Dialogue | PreferencePair): ShareGptRow {
  const base = {
    id: record.id,
    ...(record.source !== undefined ? { source: record.source } : {}),
  };
  const meta = record.meta ? { meta: record.meta } : {};
  if ("messages" in record) return { ...base, ...turnsOf(record.messages, record.id), ...meta };
  return {
    ...base,
    ...turnsOf(record.prompt, record.id),
    chosen: { from: "gpt", value: record.chosen },
    rejected: { from: "gpt", value: record.rejected },
    ...meta,
  };
}
