import { DedupError } from "./errors.js";

export interface TextViewOptions {
  /**
   * Field to read. A string field is used as is; an array of `{content}` messages is joined with newlines.
   * @default "text" when the record has a string `text`, else `messages` (Dialogue)
   */
  field?: string | undefined;
  /** Record number for error messages (1-based). */
  line?: number | undefined;
  /** File name for error messages. */
  file?: string | undefined;
}

function joinMessages(value: unknown[]): string | undefined {
  const parts: string[] = [];
  for (const m of value) {
    if (typeof m === "string") parts.push(m);
    else if (m && typeof m === "object" && typeof (m as { content?: unknown }).content === "string") parts.push((m as { content: string }).content);
    else return undefined;
  }
  return parts.join("\n");
}

/**
 * The text a record is deduplicated on: `TextDoc.text`; for a `Dialogue`, every message's content joined by
 * newlines; or any named field (string, or array of messages / strings).
 *
 * @throws DedupError (code `NO_TEXT`) naming the record and field when there is no usable text.
 */
export function textOf(record: unknown, options: TextViewOptions = {}): string {
  const rec = record as Record<string, unknown> | null;
  if (!rec || typeof rec !== "object") throw new DedupError("record is not an object", { code: "NO_TEXT", line: options.line, file: options.file });
  const field = options.field ?? (typeof rec.text === "string" ? "text" : "messages");
  const value = rec[field];
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const joined = joinMessages(value);
    if (joined !== undefined) return joined;
  }
  throw new DedupError(value === undefined ? "field is missing" : "field is neither a string nor a list of messages", {
    code: "NO_TEXT",
    line: options.line,
    file: options.file,
    field,
  });
}
