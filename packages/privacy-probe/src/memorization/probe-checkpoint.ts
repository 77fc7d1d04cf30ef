import { JsonlCheckpoint } from "@sfmed/schema";

const NO_ID = "\u0000no-id";

/** The key of a probe result in its checkpoint (records without a string id share one key, dropped on read). */
export const resultKey = (r: { id: string }): string => (r && typeof r.id === "string" ? r.id : NO_ID);

/**
 * Read the per-sample results a probe run appended to its checkpoint (a JSONL file keyed by `id`, the format of
 * the schema's `JsonlCheckpoint`), without modifying it. A line cut short by a crash is skipped (and redone by the
 * next run); records without a string `id` are left out. A missing file reads as empty.
 * @throws {CheckpointError} (from @sfmed/schema) for a broken line before the last
 */
export async function readCheckpoint<T extends { id: string }>(file: string): Promise<Map<string, T>> {
  const all = await JsonlCheckpoint.read<T>(file, { key: resultKey });
  all.delete(NO_ID);
  return all;
}
