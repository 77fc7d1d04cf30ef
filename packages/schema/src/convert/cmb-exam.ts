import { stat } from "node:fs/promises";
import path from "node:path";
import { ValidationError } from "../errors.js";
import { scanRows } from "../io/read-records.js";
import { isBadRow } from "../io/rows.js";
import type { ChoiceQuestion } from "../records.js";
import { parseAnswerValue, parseOptions } from "./choice-helpers.js";
import { asObject, defineConverter, fileStem, inputFiles, optStr, sourceId, str } from "./converter.js";
import { CMB_NON_MEDICAL_CLASSES } from "./medical-subjects.js";

/** Answers of CMB-test by question id (`data/CMB-test-choice-answer.json`), when the input folder holds them. */
type AnswerKey = Map<string, unknown> | undefined;

const NON_MEDICAL = new Set<string>(CMB_NON_MEDICAL_CLASSES);
const isAnswerFile = (file: string) => /answer/i.test(path.basename(file));
// Files a CMB checkout holds that are not exam questions: the test-set catalogue and CMB-Clin.
const isOtherFile = (file: string) => /hierarchy|clin/i.test(path.basename(file));

async function loadAnswers(files: string[]): Promise<AnswerKey> {
  if (!files.length) return undefined;
  const key = new Map<string, unknown>();
  for (const file of files) {
    for await (const row of scanRows(file)) {
      if (isBadRow(row)) throw row.error;
      const v = row.value as { id?: unknown; answer?: unknown } | null;
      const id = sourceId(v?.id);
      if (id === undefined || v?.answer === undefined) throw new ValidationError("an answer-key entry needs an id and an answer", { file, line: row.line });
      key.set(id, v.answer);
    }
  }
  return key;
}

/** `CMB-val-merge` → `val`, `CMB-test-choice-question-merge` → `test`; else the folder name. */
function splitOf(file: string): string {
  return /(?:^|[-_.])(train|val|dev|test)(?:[-_.]|$)/i.exec(fileStem(file))?.[1]?.toLowerCase() ?? path.basename(path.dirname(path.resolve(file)));
}

/**
 * `cmb-exam`: CMB-Exam (FreedomIntelligence/CMB, `CMB-Exam/CMB-{train,val,test}/*.json`; also the Hub copy) rows
 * `{exam_type, exam_class, exam_subject, question, answer, question_type, option: {A…}, explanation?, id?}` →
 * ChoiceQuestion. `subject` is the `exam_class` (the 28 sub-categories CMB scores by); type, class and the finer
 * `exam_subject` go to `meta`. Empty option slots (null, "", " ") are dropped. CMB-test ships without answers: given
 * a folder that also holds `CMB-test-choice-answer.json`, answers are looked up by `id`; otherwise those rows are
 * invalid and follow `onInvalid`. In a folder, the catalogue (`*hierarchy*`) and CMB-Clin (`*clin*`) files are
 * skipped. With `medicalOnly`, rows of {@link CMB_NON_MEDICAL_CLASSES} (考研政治) are dropped.
 */
export const cmbExam = defineConverter<"choice", AnswerKey>({
  name: "cmb-exam",
  kind: "choice",
  description: "CMB-Exam {exam_type, exam_class, exam_subject, question, option{A…}, answer, question_type} → ChoiceQuestion (subject = exam_class)",
  async files(input) {
    const all = await inputFiles(input, [".json", ".jsonl"]);
    if (!(await stat(input)).isDirectory()) return all.map((file) => ({ file, tag: undefined }));
    const answers = await loadAnswers(all.filter(isAnswerFile));
    const questions = all.filter((f) => !isAnswerFile(f) && !isOtherFile(f));
    if (!questions.length) throw new ValidationError("no CMB-Exam question files under the directory", { file: input });
    return questions.map((file) => ({ file, tag: answers }));
  },
  medical: { row: (value) => !NON_MEDICAL.has(String((value as { exam_class?: unknown } | null)?.exam_class ?? "").trim()) },
  map(value, ctx): ChoiceQuestion {
    const row = asObject(value, ctx);
    const examClass = optStr(row, "exam_class", ctx)?.trim();
    const examType = optStr(row, "exam_type", ctx)?.trim();
    const examSubject = optStr(row, "exam_subject", ctx)?.trim();
    const questionType = optStr(row, "question_type", ctx)?.trim();
    const id = sourceId(row.id);
    const given = row.answer === undefined || row.answer === null || row.answer === "" ? undefined : row.answer;
    const answer = given ?? (id !== undefined ? ctx.tag?.get(id) : undefined);
    if (answer === undefined) ctx.fail("no answer (CMB-test ships its answers in a separate CMB-test-choice-answer.json: convert a folder holding both)", "answer");
    const explanation = optStr(row, "explanation", ctx)?.trim();
    const split = splitOf(ctx.file);
    const meta: Record<string, string> = { split };
    if (examType) meta.examType = examType;
    if (examClass) meta.examClass = examClass;
    if (examSubject) meta.examSubject = examSubject;
    if (questionType) meta.questionType = questionType;
    return {
      id: `cmb-exam:${split}:${id ?? `${ctx.stem}:${ctx.index}`}`,
      source: "cmb-exam",
      ...(examClass ? { subject: examClass } : {}),
      question: str(row, "question", ctx).trim(),
      options: parseOptions(row.option ?? row.options, row.option !== undefined ? "option" : "options", ctx),
      answer: parseAnswerValue(answer, "answer", ctx),
      ...(explanation ? { explanation } : {}),
      meta,
    };
  },
});
