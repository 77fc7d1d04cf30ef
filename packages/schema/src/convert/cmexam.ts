import type { ChoiceQuestion } from "../records.js";
import { asObject, defineConverter, str } from "./converter.js";
import { parseAnswer, parseOptionList } from "./choice-helpers.js";

const CORE = new Set(["Question", "Options", "Answer", "Explanation"]);

/**
 * `cmexam`: CMExam CSV `Question,Options,Answer,Explanation` (options in one cell separated by a literal `\n`,
 * answers like `C` or `ACD`). Extra columns (the annotated test split's disease, department, difficulty …) go
 * to `meta`. A row without a usable answer (the val split has one `nan`) is invalid and follows `onInvalid`.
 */
export const cmexam = defineConverter({
  name: "cmexam",
  kind: "choice",
  description: "CMExam CSV (Question, Options with literal \\n separators, Answer letters, Explanation) → ChoiceQuestion",
  extensions: [".csv"],
  map(value, ctx): ChoiceQuestion {
    const row = asObject(value, ctx);
    const meta: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) if (!CORE.has(k) && v !== "" && v !== undefined) meta[k] = v;
    const explanation = typeof row.Explanation === "string" && row.Explanation.trim() ? row.Explanation.trim() : undefined;
    return {
      id: `cmexam:${ctx.stem}:${ctx.index}`,
      source: "cmexam",
      question: str(row, "Question", ctx).trim(),
      options: parseOptionList(str(row, "Options", ctx), "Options", ctx),
      answer: parseAnswer(str(row, "Answer", ctx), "Answer", ctx),
      ...(explanation ? { explanation } : {}),
      ...(Object.keys(meta).length ? { meta } : {}),
    };
  },
});
