import type { z } from "zod";
import { ValidationError, type RecordLocation } from "./errors.js";
import { recordSchemas, type RecordKind, type RecordOf } from "./records.js";

/** Render a zod issue path as `messages[2].role`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s;
}

/** Validate `value` against a zod schema; throw a ValidationError naming file, line and field on failure. */
export function validateWith<T>(schema: z.ZodType<T>, value: unknown, loc: RecordLocation = {}): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = formatPath(issue.path);
  throw new ValidationError(issue.message, { ...loc, field: field || undefined });
}

/** Validate one record of a named kind (`dialogue`, `doc`, `pair`, `choice`, `qa`, `prediction`). */
export function validateRecord<K extends RecordKind>(kind: K, value: unknown, loc: RecordLocation = {}): RecordOf<K> {
  return validateWith(recordSchemas[kind] as unknown as z.ZodType<RecordOf<K>>, value, loc);
}
