import { defineConverter, fileStem } from "./converter.js";
import { choiceFromColumns } from "./choice-csv.js";
import { CMMLU_MEDICAL_SUBJECTS } from "./medical-subjects.js";

const MEDICAL = new Set<string>(CMMLU_MEDICAL_SUBJECTS);

/**
 * `cmmlu`: a CMMLU directory (`dev/`, `test/` of `<subject>.csv` with header `,Question,A,B,C,D,Answer`) or one
 * file → ChoiceQuestions. The subject is the file name; the split (`dev`/`test`) the folder, kept in `meta.split`.
 * With `medicalOnly` only the files of {@link CMMLU_MEDICAL_SUBJECTS} are read.
 */
export const cmmlu = defineConverter({
  name: "cmmlu",
  kind: "choice",
  description: "CMMLU <split>/<subject>.csv (,Question,A,B,C,D,Answer) → ChoiceQuestion per subject",
  extensions: [".csv"],
  medical: { file: (file) => MEDICAL.has(fileStem(file)) },
  map: (value, ctx) => choiceFromColumns(value, ctx, { source: "cmmlu", subject: ctx.stem, split: ctx.parent }),
});
