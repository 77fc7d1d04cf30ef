import { defineConverter } from "./converter.js";
import { choiceFromColumns } from "./choice-csv.js";

/**
 * `ceval`: a C-Eval directory (`dev/<subject>_dev.csv`, `val/<subject>_val.csv`; header
 * `id,question,A,B,C,D,answer[,explanation]`) or one file → ChoiceQuestions. The subject is the file name without
 * its split suffix. Test files carry no answers; their rows are invalid and follow `onInvalid`.
 */
export const ceval = defineConverter({
  name: "ceval",
  kind: "choice",
  description: "C-Eval <split>/<subject>_<split>.csv (id,question,A,B,C,D,answer[,explanation]) → ChoiceQuestion per subject",
  extensions: [".csv"],
  map(value, ctx) {
    const m = /^(.*)_(dev|val|test)$/.exec(ctx.stem);
    const subject = m ? m[1]! : ctx.stem;
    const split = m ? m[2]! : ctx.parent;
    return choiceFromColumns(value, ctx, { source: "ceval", subject, split });
  },
});
