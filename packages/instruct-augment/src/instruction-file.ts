import { readLines, readRecords } from "@sfmed/schema";
import { AugmentError } from "./augment-error.js";

/** One instruction of a file, with the pool its record names (augment output carries `pool`). */
export interface InstructionEntry {
  text: string;
  pool?: string;
}

/**
 * Instructions from a file: text (one per line; blank lines and `#` comments skipped) or JSONL/JSON/CSV/TSV records
 * that are strings or carry `instruction` or `text` (and optionally `pool`). Gzip, UTF-8 and GB18030 are read by
 * @sfmed/schema, whose errors name the line.
 * @throws {AugmentError} `BAD_INSTRUCTIONS` naming file and line for a record without an instruction.
 */
export async function readInstructionFile(file: string): Promise<InstructionEntry[]> {
  const out: InstructionEntry[] = [];
  if (/\.(jsonl|ndjson|json|csv|tsv)(\.gz)?$/i.test(file)) {
    for await (const { record, line } of readRecords(file)) {
      const r = record as { instruction?: unknown; text?: unknown; pool?: unknown } | string;
      const text = typeof r === "string" ? r : typeof r.instruction === "string" ? r.instruction : typeof r.text === "string" ? r.text : undefined;
      if (text === undefined) throw new AugmentError(`line ${line}: expected a string or a record with "instruction" or "text"`, { code: "BAD_INSTRUCTIONS", file, field: "instruction" });
      out.push(typeof r === "object" && typeof r.pool === "string" ? { text, pool: r.pool } : { text });
    }
    return out;
  }
  for await (const { text } of readLines(file)) {
    const t = text.trim();
    if (t && !t.startsWith("#")) out.push({ text: t });
  }
  return out;
}
