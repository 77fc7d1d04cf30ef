import type { Dialogue, Message } from "../records.js";
import { asObject, defineConverter, optStr, sourceId, str } from "./converter.js";

/**
 * `cmtmedqa`: CMtMedQA (Zhongjing). Two kinds of rows share the file:
 * - consultations `{id, cate1, cate2, instruction, input, output, history: [[patient, doctor], …]}` become
 *   multi-turn dialogues (history turns, then instruction → output), `meta.kind = "consultation"`;
 * - the 144 safety/adversarial items `{instruct, output}` become single-turn dialogues with
 *   `meta.kind = "safety"`, so they are kept and easy to filter out, never silently dropped.
 */
export const cmtmedqa = defineConverter({
  name: "cmtmedqa",
  kind: "dialogue",
  description: "CMtMedQA multi-turn consultations (meta.kind=consultation) and safety items (meta.kind=safety) → Dialogue",
  map(value, ctx): Dialogue {
    const obj = asObject(value, ctx);
    if (!("history" in obj) && "instruct" in obj) {
      return {
        id: `cmtmedqa:safety:${ctx.stem}:${ctx.index}`,
        source: "cmtmedqa",
        messages: [
          { role: "user", content: str(obj, "instruct", ctx).trim() },
          { role: "assistant", content: str(obj, "output", ctx).trim() },
        ],
        meta: { kind: "safety" },
      };
    }
    const messages: Message[] = [];
    const history: unknown = obj.history ?? [];
    if (!Array.isArray(history)) return ctx.fail("history must be a list of [patient, doctor] pairs", "history");
    for (const [i, pair] of history.entries()) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
        ctx.fail("expected a [patient, doctor] pair of strings", `history[${i}]`);
      }
      messages.push({ role: "user", content: pair[0].trim() }, { role: "assistant", content: pair[1].trim() });
    }
    const input = optStr(obj, "input", ctx)?.trim();
    const instruction = str(obj, "instruction", ctx).trim();
    messages.push({ role: "user", content: input ? `${instruction}\n${input}` : instruction }, { role: "assistant", content: str(obj, "output", ctx).trim() });
    const meta: Record<string, unknown> = { kind: "consultation" };
    const cate1 = optStr(obj, "cate1", ctx);
    const cate2 = optStr(obj, "cate2", ctx);
    if (cate1) meta.department = cate1;
    if (cate2) meta.subdepartment = cate2;
    const id = sourceId(obj.id);
    return { id: id ? `cmtmedqa:${id}` : `cmtmedqa:${ctx.stem}:${ctx.index}`, source: "cmtmedqa", messages, meta };
  },
});
