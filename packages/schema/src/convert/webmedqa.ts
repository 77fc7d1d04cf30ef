import { scanCsv } from "../io/csv.js";
import { formatFromName } from "../io/format.js";
import { readLines } from "../io/lines.js";
import { isBadRow } from "../io/rows.js";
import type { ReferenceQA } from "../records.js";
import { defineConverter, fileStem, type ConvertOptions, type RowContext, type TaggedRow } from "./converter.js";

/** The five fields of a webMedQA line, in file order. */
export const WEBMEDQA_COLUMNS = ["department", "label", "question_id", "question", "answer"] as const;

/** Header names CSV re-exports use for each field. */
const ALIASES: Record<(typeof WEBMEDQA_COLUMNS)[number], string[]> = {
  department: ["department", "category", "dept", "科室"],
  label: ["label", "is_answer", "is_best"],
  question_id: ["question_id", "qid", "qaid", "id"],
  question: ["question", "ask", "问题"],
  answer: ["answer", "option", "回答"],
};

type Fields = Record<(typeof WEBMEDQA_COLUMNS)[number], string>;

/** Cells (TSV line) or a header-keyed object (CSV) → the five fields, or a message naming what is wrong. */
function fieldsOf(value: unknown): Fields | { problem: string; field?: string } {
  if (Array.isArray(value)) {
    if (value.length < 5) return { problem: `expected 5 tab-separated fields (${WEBMEDQA_COLUMNS.join(", ")}), got ${value.length}` };
    const [department, label, question_id, question, ...answer] = value as string[];
    // An answer holding a tab would have been split; its pieces are joined back rather than lost.
    return { department: department!, label: label!, question_id: question_id!, question: question!, answer: answer.join("\t") };
  }
  const row = value as Record<string, unknown>;
  const keys = new Map(Object.keys(row).map((k) => [k.trim().toLowerCase(), k]));
  const out: Partial<Fields> = {};
  for (const col of WEBMEDQA_COLUMNS) {
    const key = ALIASES[col].map((a) => keys.get(a)).find((k) => k !== undefined);
    const v = key === undefined ? undefined : row[key];
    if (typeof v !== "string" && typeof v !== "number") return { problem: `missing column "${col}" (or one of ${ALIASES[col].join(", ")})`, field: col };
    out[col] = String(v);
  }
  return out as Fields;
}

const isHeader = (cells: string[]) => cells.length >= 2 && ALIASES.label.includes(cells[1]!.trim().toLowerCase());

/**
 * webMedQA's files are raw tab-separated lines (Python's `line.split('\t')`, no quoting), so a field that opens
 * with `"` is text, not a quoted cell: they are read line by line, not with the CSV parser. `.csv` re-exports
 * with a header go through {@link scanCsv}. Accepted answers are numbered per question id (the tag), so a
 * question with two accepted answers still gets distinct ids.
 */
async function* webMedQaRows(file: string, opts: ConvertOptions): AsyncGenerator<TaggedRow<number>> {
  const text = opts.encoding ? { encoding: opts.encoding } : {};
  async function* raw(): AsyncGenerator<TaggedRow<number>> {
    if (formatFromName(file) === "csv") {
      yield* scanCsv(file, text);
      return;
    }
    let index = 0;
    for await (const { line, text: t } of readLines(file, text)) {
      if (!t.trim()) continue;
      const cells = t.split("\t");
      if (index === 0 && isHeader(cells)) continue;
      yield { file, line, index: ++index, value: cells };
    }
  }
  const accepted = new Map<string, number>();
  for await (const row of raw()) {
    if (!isBadRow(row)) {
      const f = fieldsOf(row.value);
      if (!("problem" in f) && f.label.trim() === "1") {
        const qid = f.question_id.trim();
        const n = (accepted.get(qid) ?? 0) + 1;
        accepted.set(qid, n);
        yield { ...row, tag: n };
        continue;
      }
    }
    yield row;
  }
}

/** `medQA.test` → `test`; other names keep their stem. */
const splitOf = (file: string) => /^medqa\.(train|valid|dev|test)$/i.exec(fileStem(file))?.[1]?.toLowerCase() ?? fileStem(file);

/**
 * `webmedqa`: webMedQA (hejunqing/webMedQA; `medQA.{train,valid,test}.txt` inside the repository's zips): one
 * tab-separated line per candidate answer, `department \t label \t question_id \t question \t answer`, label 1
 * for the accepted answer and 0 for the others. Each accepted answer becomes a ReferenceQA (prompt: the question;
 * reference: the answer); label-0 lines produce nothing. Encoding is detected (UTF-8 or GB18030), `.gz` inflated.
 */
export const webmedqa = defineConverter<"qa", number>({
  name: "webmedqa",
  kind: "qa",
  description: "webMedQA medQA.*.txt (department\\tlabel\\tquestion_id\\tquestion\\tanswer) → ReferenceQA per accepted (label 1) answer",
  extensions: [".txt", ".tsv", ".csv"],
  rows: webMedQaRows,
  map(value, ctx: RowContext<number>): ReferenceQA[] {
    const f = fieldsOf(value);
    if ("problem" in f) return ctx.fail(f.problem, f.field);
    const label = f.label.trim();
    if (label !== "0" && label !== "1") return ctx.fail(`label ${JSON.stringify(f.label)} is neither 1 (accepted answer) nor 0`, "label");
    if (label === "0") return [];
    const qid = f.question_id.trim();
    if (!qid) return ctx.fail("empty question id", "question_id");
    const question = f.question.trim();
    if (!question) return ctx.fail("empty question", "question");
    const answer = f.answer.trim();
    if (!answer) return ctx.fail("empty answer", "answer");
    const n = ctx.tag ?? 1;
    const department = f.department.trim();
    return [
      {
        id: `webmedqa:${splitOf(ctx.file)}:${qid}${n > 1 ? `:${n}` : ""}`,
        source: "webmedqa",
        prompt: [{ role: "user", content: question }],
        reference: answer,
        meta: { questionId: qid, ...(department ? { department } : {}) },
      },
    ];
  },
});
