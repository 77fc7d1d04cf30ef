import { defineConverter, fileStem } from "./converter.js";
import { choiceFromColumns } from "./choice-csv.js";
import { CEVAL_MEDICAL_SUBJECTS } from "./medical-subjects.js";

const MEDICAL = new Set<string>(CEVAL_MEDICAL_SUBJECTS);

/** `physician_val` → `{subject: "physician", split: "val"}`; a name without a split suffix is the subject. */
function subjectOf(stem: string): { subject: string; split: string | undefined } {
  const m = /^(.*)_(dev|val|test)$/.exec(stem);
  return m ? { subject: m[1]!, split: m[2]! } : { subject: stem, split: undefined };
}

/**
 * `ceval`: a C-Eval directory (`dev/<subject>_dev.csv`, `val/<subject>_val.csv`; header
 * `id,question,A,B,C,D,answer[,explanation]`) or one file → ChoiceQuestions. The subject is the file name without
 * its split suffix. Test files carry no answers; their rows are invalid and follow `onInvalid`. With `medicalOnly`
 * only the files of {@link CEVAL_MEDICAL_SUBJECTS} are read.
 */
export const ceval = defineConverter({
  name: "ceval",
  kind: "choice",
  description: "C-Eval <split>/<subject>_<split>.csv (id,question,A,B,C,D,answer[,explanation]) → ChoiceQuestion per subject",
  extensions: [".csv"],
  medical: { file: (file) => MEDICAL.has(subjectOf(fileStem(file)).subject) },
  map(value, ctx) {
    const { subject, split } = subjectOf(ctx.stem);
    return choiceFromColumns(value, ctx, { source: "ceval", subject, split: split ?? ctx.parent });
  },
});
