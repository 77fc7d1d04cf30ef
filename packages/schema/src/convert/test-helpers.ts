// Test-only helpers shared by the converter tests (not exported from the package).
import type { Reject, RejectSink } from "../io/rejects.js";

export async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** A reject sink that keeps entries in memory. */
export function memorySink(): RejectSink & { entries: Reject[] } {
  const entries: Reject[] = [];
  return { entries, write: (r) => void entries.push(r) };
}
