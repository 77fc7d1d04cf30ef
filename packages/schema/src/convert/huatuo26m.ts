import type { Dialogue, Message } from "../records.js";
import { asObject, defineConverter, sourceId, type RowContext } from "./converter.js";

function texts(obj: Record<string, unknown>, keys: string[], ctx: RowContext<unknown>): { key: string; list: string[] } {
  for (const key of keys) {
    const v = obj[key];
    if (v === undefined || v === null) continue;
    if (typeof v === "string") return { key, list: [v] };
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return { key, list: v };
    ctx.fail("expected a string or a list of strings", key);
  }
  return ctx.fail(`missing field (one of ${keys.join(", ")})`, keys[0]);
}

/**
 * `huatuo26m`: Huatuo-26M rows. The official 6k test set stores `instruction` and `output` as one-element
 * lists (`{id: "", instruction: [q], input: "", output: [a]}`); the Hub copies use `questions`/`answers` or
 * `question`/`answer`. Lists of equal length become consecutive turns. Ids: the source id, else file + index.
 */
export const huatuo26m = defineConverter({
  name: "huatuo26m",
  kind: "dialogue",
  description: "Huatuo-26M {instruction[], input, output[]} / {question(s), answer(s)} → Dialogue",
  map(value, ctx): Dialogue {
    const obj = asObject(value, ctx);
    const q = texts(obj, ["instruction", "questions", "question"], ctx);
    const a = texts(obj, ["output", "answers", "answer"], ctx);
    if (q.list.length !== a.list.length) ctx.fail(`${q.list.length} questions but ${a.list.length} answers`, a.key);
    if (!q.list.length) ctx.fail("no question", q.key);
    const input = typeof obj.input === "string" ? obj.input.trim() : "";
    const messages: Message[] = [];
    q.list.forEach((question, i) => {
      const user = i === 0 && input ? `${question.trim()}\n${input}` : question.trim();
      messages.push({ role: "user", content: user }, { role: "assistant", content: a.list[i]!.trim() });
    });
    const id = sourceId(obj.id);
    return { id: id ? `huatuo26m:${id}` : `huatuo26m:${ctx.stem}:${ctx.index}`, source: "huatuo26m", messages };
  },
});
