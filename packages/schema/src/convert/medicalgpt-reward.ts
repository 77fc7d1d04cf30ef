import type { Message, PreferencePair } from "../records.js";
import { asObject, defineConverter, optStr, sourceId, str } from "./converter.js";

/**
 * `medicalgpt-reward`: MedicalGPT reward data `{question, response_chosen, response_rejected}` (JSONL, often
 * named `.json`; optional `system` and `history` pairs) → PreferencePair with the question as the user prompt.
 */
export const medicalgptReward = defineConverter({
  name: "medicalgpt-reward",
  kind: "pair",
  description: "MedicalGPT reward {question, response_chosen, response_rejected} → PreferencePair",
  map(value, ctx): PreferencePair {
    const obj = asObject(value, ctx);
    const prompt: Message[] = [];
    const system = optStr(obj, "system", ctx);
    if (system) prompt.push({ role: "system", content: system });
    const history = obj.history;
    if (Array.isArray(history)) {
      for (const [i, pair] of history.entries()) {
        if (!Array.isArray(pair) || typeof pair[0] !== "string" || typeof pair[1] !== "string") ctx.fail("expected a [question, answer] pair", `history[${i}]`);
        prompt.push({ role: "user", content: pair[0] }, { role: "assistant", content: pair[1] });
      }
    }
    prompt.push({ role: "user", content: str(obj, "question", ctx) });
    const id = sourceId(obj.id);
    return {
      id: id ? `medicalgpt-reward:${id}` : `medicalgpt-reward:${ctx.stem}:${ctx.index}`,
      source: "medicalgpt-reward",
      prompt,
      chosen: str(obj, "response_chosen", ctx),
      rejected: str(obj, "response_rejected", ctx),
    };
  },
});
