import { LETTERS, type ChoiceQuestion } from "../records.js";
import { parseAnswerValue, parseOptions } from "./choice-helpers.js";
import { asObject, defineConverter, sourceId, type RowContext } from "./converter.js";

/** Field names accepted for each part of a row, first match wins (compared case-insensitively). */
export const PHARMACIST_EXAM_FIELDS = {
  question: ["question", "题目", "题干", "问题"],
  options: ["option", "options", "choices", "选项"],
  answer: ["answer", "answers", "label", "答案"],
  questionType: ["question_type", "type", "题型"],
  explanation: ["explanation", "analysis", "解析"],
  subject: ["subject", "科目"],
  id: ["id", "question_id", "qid"],
} as const;

function find(row: Record<string, unknown>, names: readonly string[]): { key: string; value: unknown } | undefined {
  const byLower = new Map(Object.keys(row).map((k) => [k.trim().toLowerCase(), k]));
  for (const n of names) {
    const key = byLower.get(n);
    if (key !== undefined && row[key] !== undefined && row[key] !== null) return { key, value: row[key] };
  }
  return undefined;
}

function asText(f: { key: string; value: unknown } | undefined, ctx: RowContext<unknown>): string | undefined {
  if (!f) return undefined;
  if (typeof f.value === "number") return String(f.value);
  if (typeof f.value !== "string") return ctx.fail("must be text", f.key);
  return f.value.trim() || undefined;
}

/** `…(Pharmacy_track).jsonl` → `pharmacy`, `…(TCM_track)…` → `tcm` (the two tracks of the 2023 exam). */
const trackOf = (file: string) => /(pharmacy|tcm)[_ ]track/i.exec(file)?.[1]?.toLowerCase();

/**
 * `pharmacist-exam`: the Chinese National Pharmacist Licensure Examination (执业药师) as published with HuatuoGPT-II
 * (Hugging Face `FreedomIntelligence/2023_Pharmacist_Licensure_Examination-{Pharmacy,TCM}_track`, one JSONL per
 * track: `question`, options as top-level keys `A`…`E`, `answer`, `question_type`), and the same content in the
 * common exam-dump shapes. There is no single canonical file format, so a row (JSON, JSONL or CSV) may give:
 * question `question`/`题目`/`题干`/`问题`; options as top-level letter keys, or in `option`/`options`/`choices`/`选项`
 * (see {@link parseOptions}); answer `answer`/`answers`/`label`/`答案` as letters (`"ACD"`, `"A,C"`, `["A","C"]`);
 * optional `question_type`/`type`/`题型`, `explanation`/`analysis`/`解析`, `subject`/`科目`, `id`/`question_id`.
 * `subject` defaults to the track named in the file name. Other fields go to `meta`.
 */
export const pharmacistExam = defineConverter({
  name: "pharmacist-exam",
  kind: "choice",
  description: "Pharmacist licensure exam (执业药师) rows: question, options (letter keys, option{…}, list or text), answer letters → ChoiceQuestion",
  map(value, ctx): ChoiceQuestion {
    const row = asObject(value, ctx);
    const used = new Set<string>();
    const take = (names: readonly string[]) => {
      const f = find(row, names);
      if (f) used.add(f.key);
      return f;
    };
    const q = take(PHARMACIST_EXAM_FIELDS.question);
    if (!q) return ctx.fail(`missing question (one of ${PHARMACIST_EXAM_FIELDS.question.join(", ")})`, "question");
    const question = asText(q, ctx) ?? ctx.fail("empty question", q.key);
    const opt = take(PHARMACIST_EXAM_FIELDS.options);
    const letterKeys = Object.keys(row).filter((k) => (LETTERS as readonly string[]).includes(k.trim().toUpperCase()) && k.trim().length === 1);
    if (opt && letterKeys.length) return ctx.fail(`options given twice: in "${opt.key}" and as letter keys ${letterKeys.join(",")}`, opt.key);
    letterKeys.forEach((k) => used.add(k));
    const options = opt
      ? parseOptions(opt.value, opt.key, ctx)
      : letterKeys.length
        ? parseOptions(Object.fromEntries(letterKeys.map((k) => [k, row[k]])), "options", ctx)
        : ctx.fail("no options (letter keys A–J, or one of " + PHARMACIST_EXAM_FIELDS.options.join(", ") + ")", "options");
    const a = take(PHARMACIST_EXAM_FIELDS.answer);
    if (!a) return ctx.fail(`missing answer (one of ${PHARMACIST_EXAM_FIELDS.answer.join(", ")})`, "answer");
    const answer = parseAnswerValue(a.value, a.key, ctx);
    const pick = (names: readonly string[]) => asText(take(names), ctx);
    const questionType = pick(PHARMACIST_EXAM_FIELDS.questionType);
    const explanation = pick(PHARMACIST_EXAM_FIELDS.explanation);
    const subject = pick(PHARMACIST_EXAM_FIELDS.subject) ?? trackOf(ctx.file);
    const idField = take(PHARMACIST_EXAM_FIELDS.id);
    const id = sourceId(idField?.value);
    const meta: Record<string, unknown> = {};
    if (questionType) meta.questionType = questionType;
    for (const [k, v] of Object.entries(row)) if (!used.has(k) && v !== null && v !== undefined && v !== "") meta[k] = v;
    return {
      id: `pharmacist-exam:${ctx.stem}:${id ?? ctx.index}`,
      source: "pharmacist-exam",
      ...(subject ? { subject } : {}),
      question,
      options,
      answer,
      ...(explanation ? { explanation } : {}),
      ...(Object.keys(meta).length ? { meta } : {}),
    };
  },
});
