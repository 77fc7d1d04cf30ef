import { defineConverter } from "./converter.js";
import { choiceFromColumns } from "./choice-csv.js";

/**
 * `cmmlu`: a CMMLU directory (`dev/`, `test/` of `<subject>.csv` with header `,Question,A,B,C,D,Answer`) or one
 * file → ChoiceQuestions. The subject is the file name; the split (`dev`/`test`) the folder, kept in `meta.split`.
 */
export const cmmlu = defineConverter({
  name: "cmmlu",
  kind: "choice",
  description: "CMMLU <split>/<subject>.csv (,Question,A,B,C,D,Answer) → ChoiceQuestion per subject",
  extensions: [".csv"],
  map: (value, ctx) => choiceFromColumns(value, ctx, { source: "cmmlu", subject: ctx.stem, split: ctx.parent }),
});
