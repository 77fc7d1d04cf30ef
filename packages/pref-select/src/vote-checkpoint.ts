import { CheckpointError, JsonlCheckpoint, formatLocation } from "@sfmed/schema";
import { CheckpointMismatchError } from "./errors.js";
import type { JudgeVerdict } from "./tally-votes.js";

/** One finished set: its id, a hash of its content (so edited sets are judged again) and the verdicts. */
export interface CheckpointEntry {
  id: string;
  key: string;
  verdicts: JudgeVerdict[];
}

/**
 * Open (or start) a vote checkpoint: the schema's `JsonlCheckpoint` with a header naming the seed and judges, then
 * one line per finished set keyed by id. The file format is the one earlier releases wrote (the header's key order
 * does not matter), so their checkpoints resume.
 * @throws CheckpointMismatchError when the file was written with another seed or judge list, or is broken
 */
export async function openVoteCheckpoint(file: string, run: { seed: number; judges: string[] }): Promise<JsonlCheckpoint<CheckpointEntry>> {
  const header = { kind: "sfmed-pref-vote", version: 1, seed: run.seed, judges: run.judges };
  try {
    return await JsonlCheckpoint.open<CheckpointEntry>(file, { key: (e) => e.id, header });
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    const where = formatLocation({ file: e.file, line: e.line });
    const reason = e.message.startsWith(`${where}: `) ? e.message.slice(where.length + 2) : e.message;
    throw new CheckpointMismatchError(`${e.line !== undefined ? `line ${e.line}: ` : ""}${reason} (this run: seed ${run.seed}, judges [${run.judges.join(", ")}])`, file);
  }
}
