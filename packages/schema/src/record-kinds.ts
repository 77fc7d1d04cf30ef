import type { RecordKind } from "./records.js";

/**
 * The record kinds by their CLI names, without loading zod: readers check a `kind` against this list and load the
 * schemas only when the first record is validated. A test keeps it equal to `Object.keys(recordSchemas)`.
 */
export const RECORD_KINDS: readonly RecordKind[] = ["dialogue", "doc", "pair", "choice", "qa", "prediction"];

/** Whether `name` is one of {@link RECORD_KINDS}. */
export function isRecordKind(name: unknown): name is RecordKind {
  return typeof name === "string" && (RECORD_KINDS as readonly string[]).includes(name);
}
