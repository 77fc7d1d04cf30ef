import path from "node:path";
import { ParseError } from "../errors.js";
import { readLines } from "../io/lines.js";
import { scanCsv } from "../io/csv.js";
import type { Dialogue } from "../records.js";
import { asObject, defineConverter, fileStem, optStr, str, type ConvertOptions, type TaggedRow } from "./converter.js";

/**
 * Read Toyhom's block-text variant (`内科.txt`, GB18030): blocks separated by blank lines, each block
 * `title,ask` on its first line and the answer on the following line(s). A block's line is its first line.
 */
export async function* scanToyhomBlocks(file: string, opts: Pick<ConvertOptions, "encoding"> = {}): AsyncGenerator<TaggedRow<undefined>> {
  let block: string[] = [];
  let start = 0;
  let index = 0;
  const emit = (): TaggedRow<undefined> => {
    index++;
    const [head, ...rest] = block;
    const comma = head!.indexOf(",");
    const at = { file, line: start, index };
    block = [];
    if (comma < 0) return { ...at, raw: head, error: new ParseError("expected 'title,question' on the first line of the block", { file, line: start }) };
    if (!rest.length) return { ...at, raw: head, error: new ParseError("block has no answer line", { file, line: start }) };
    return { ...at, value: { title: head!.slice(0, comma), ask: head!.slice(comma + 1), answer: rest.join("\n") } };
  };
  for await (const { line, text } of readLines(file, opts.encoding ? { encoding: opts.encoding } : {})) {
    if (text.trim() === "") {
      if (block.length) yield emit();
      continue;
    }
    if (!block.length) start = line;
    block.push(text);
  }
  if (block.length) yield emit();
}

/** The patient's message: the title (a one-line summary) then the full question, unless one contains the other. */
export function toyhomQuestion(title: string, ask: string): string {
  const t = title.trim();
  const a = ask.trim();
  if (!a || a === "无" || t.includes(a)) return t;
  if (!t || a.includes(t)) return a;
  return `${t}\n${a}`;
}

/**
 * `toyhom`: Toyhom Chinese-medical-dialogue-data. `.csv` files have `department,title,ask,answer` (UTF-8 or
 * GB18030, detected); other files are the block-text variant (`title,ask` line, answer line, blank lines), whose
 * department is the file name (e.g. `内科`).
 */
export const toyhom = defineConverter({
  name: "toyhom",
  kind: "dialogue",
  description: "Toyhom CSV (department,title,ask,answer) or block text (title,ask / answer) → Dialogue",
  extensions: [".csv", ".txt"],
  rows(file, opts) {
    const enc = opts.encoding ? { encoding: opts.encoding } : {};
    return /\.csv(\.gz)?$/i.test(file) ? scanCsv(file, enc) : scanToyhomBlocks(file, enc);
  },
  map(value, ctx): Dialogue {
    const obj = asObject(value, ctx);
    const title = str(obj, "title", ctx);
    const ask = str(obj, "ask", ctx);
    const department = optStr(obj, "department", ctx)?.trim() || fileStem(path.basename(ctx.file)).replace(/\.utf8$/, "");
    const question = toyhomQuestion(title, ask);
    if (!question) ctx.fail("empty question", "ask");
    return {
      id: `toyhom:${ctx.stem}:${ctx.index}`,
      source: "toyhom",
      messages: [
        { role: "user", content: question },
        { role: "assistant", content: str(obj, "answer", ctx).trim() },
      ],
      meta: { department, title: title.trim() },
    };
  },
});
