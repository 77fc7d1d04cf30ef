import { isBadRow, scanRows } from "@sfmed/schema";
import type { RejectedRow } from "./errors.js";

/** The rows of an input file as the stage functions take them: values, their lines, and unreadable rows. */
export interface InputRows {
  values: unknown[];
  /** 1-based line (or row) of each value, for rejections that name where a row sits. */
  lines: number[];
  /** Rows that did not parse, as rejections (the file's reader message without its location prefix). */
  bad: RejectedRow[];
}

/**
 * Read a JSONL/JSON/CSV file (gzip and GB18030 handled by @sfmed/schema) into {@link InputRows}: parsed rows are
 * passed on unvalidated (`votePairs`, `mergeScores`, `selectPairs` check their shape), unparsable ones rejected.
 */
export async function readInputRows(file: string): Promise<InputRows> {
  const out: InputRows = { values: [], lines: [], bad: [] };
  for await (const r of scanRows(file)) {
    if (isBadRow(r)) out.bad.push({ file, line: r.line, reason: r.error.message.replace(/^.*?: /, "") });
    else {
      out.values.push(r.value);
      out.lines.push(r.line);
    }
  }
  return out;
}
