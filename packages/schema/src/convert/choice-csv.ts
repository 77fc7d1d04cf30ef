import { LETTERS, type ChoiceQuestion, type Letter } from "../records.js";
import { asObject, type RowContext } from "./converter.js";
import { parseAnswer } from "./choice-helpers.js";

function pick(row: Record<string, unknown>, names: string[]): { key: string; value: string } | undefined {
  for (const [k, v] of Object.entries(row)) {
    if (names.includes(k.trim().toLowerCase()) && typeof v === "string") return { key: k, value: v };
  }
  return undefined;
}

/**
 * A CMMLU/C-Eval style row `[id],question,A,B,C,D[,…],answer[,explanation]` → ChoiceQuestion. Columns are
 * matched case-insensitively; option columns are the single letters present.
 */
export function choiceFromColumns(
  value: unknown,
  ctx: RowContext<unknown>,
  opts: { source: string; subject: string; split: string },
): ChoiceQuestion {
  const row = asObject(value, ctx);
  const q = pick(row, ["question"]);
  if (!q || !q.value.trim()) return ctx.fail("missing question", "question");
  const options: Partial<Record<Letter, string>> = {};
  for (const l of LETTERS) if (typeof row[l] === "string") options[l] = (row[l] as string).trim();
  const a = pick(row, ["answer"]);
  if (!a || !a.value.trim()) return ctx.fail("no answer (C-Eval test files ship without answers)", a?.key ?? "answer");
  const explanation = pick(row, ["explanation"])?.value.trim();
  const rowId = pick(row, ["id", ""])?.value.trim() || String(ctx.index - 1);
  const where = opts.split ? `${opts.split}/${opts.subject}` : opts.subject;
  return {
    id: `${opts.source}:${where}:${rowId}`,
    source: opts.source,
    subject: opts.subject,
    question: q.value.trim(),
    options,
    answer: parseAnswer(a.value, a.key, ctx),
    ...(explanation ? { explanation } : {}),
    ...(opts.split ? { meta: { split: opts.split } } : {}),
  };
}
