import { appendFile, readFile } from "node:fs/promises";
import { AugmentError } from "./augment-error.js";
import { atomicWrite } from "@sfmed/schema";
import type { Banks } from "./question-answer-banks.js";
import type { RejectReason } from "./quality-filter.js";
import type { RandomState } from "./seeded-random.js";

/** An instruction that passed the filter. */
export interface AcceptedInstruction {
  text: string;
  /** 1-based step that produced it. */
  step: number;
  /** Lexicon terms it contains. */
  terms: string[];
  /** Its highest ROUGE-L F against the banks when accepted. */
  maxRougeL: number;
}

export interface AugmentUsage {
  calls: number;
  cachedCalls: number;
  promptTokens: number;
  completionTokens: number;
  cost: number;
}

/** The small part of a run's state, rewritten whole after every step. */
export interface CheckpointSnapshot {
  version: 2;
  /** Hash of the inputs and parameters; a resume with different ones is refused. */
  configHash: string;
  /** Completed steps. */
  step: number;
  rng: RandomState;
  banks: Banks;
  /** How many lines of the accepted log belong to the completed steps. */
  acceptedCount: number;
  candidates: number;
  rejected: Record<RejectReason, number>;
  usage: AugmentUsage;
}

/**
 * The accepted instructions live in an append-only log beside the snapshot (JSON lines, named `.log` so that
 * tools globbing `*.jsonl` do not take it for output); a step then writes only its own instructions.
 */
// Checkpoints are read back as plain text, so a user-chosen name ending in .gz must not turn on compression.
const writeText = (file: string, text: string): Promise<void> => atomicWrite(file, [text], { gzip: false });

export const acceptedLogPath = (checkpoint: string): string => `${checkpoint}.accepted.log`;

/** Start a fresh checkpoint: an empty log, then the snapshot. */
export async function startCheckpoint(file: string, snap: CheckpointSnapshot): Promise<void> {
  await writeText(acceptedLogPath(file), "");
  await writeText(file, JSON.stringify(snap));
}

/**
 * Record one finished step: append its accepted instructions to the log, then replace the snapshot. A crash
 * between the two leaves extra log lines that the snapshot does not count; {@link loadCheckpoint} drops them.
 */
export async function saveStep(file: string, snap: CheckpointSnapshot, accepted: readonly AcceptedInstruction[]): Promise<void> {
  if (accepted.length > 0) await appendFile(acceptedLogPath(file), accepted.map((a) => JSON.stringify(a) + "\n").join(""));
  await writeText(file, JSON.stringify(snap));
}

/**
 * Read a checkpoint: the snapshot and the first `acceptedCount` log entries. Lines past those (from a step that
 * crashed after appending, or a torn last line) are cut off the log so later appends continue cleanly.
 * @returns undefined when there is no checkpoint
 * @throws {AugmentError} BAD_CHECKPOINT when the snapshot or the log is unreadable or the log is short
 */
export async function loadCheckpoint(file: string): Promise<{ snapshot: CheckpointSnapshot; accepted: AcceptedInstruction[] } | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AugmentError(`cannot read checkpoint: ${(e as Error).message}`, { code: "BAD_CHECKPOINT", file, cause: e });
  }
  let snapshot: CheckpointSnapshot;
  try {
    snapshot = JSON.parse(text) as CheckpointSnapshot;
    if (snapshot.version !== 2 || !Array.isArray(snapshot.rng) || !snapshot.banks || !Number.isInteger(snapshot.acceptedCount)) {
      throw new Error("not an augmentation checkpoint");
    }
  } catch (e) {
    throw new AugmentError(`unreadable checkpoint: ${(e as Error).message}`, { code: "BAD_CHECKPOINT", file, cause: e });
  }
  const log = acceptedLogPath(file);
  let lines: string[] = [];
  try {
    lines = (await readFile(log, "utf8")).split("\n");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT" || snapshot.acceptedCount > 0) {
      throw new AugmentError(`cannot read the accepted log: ${(e as Error).message}`, { code: "BAD_CHECKPOINT", file: log, cause: e });
    }
  }
  const accepted: AcceptedInstruction[] = [];
  for (let i = 0; i < snapshot.acceptedCount; i++) {
    try {
      accepted.push(JSON.parse(lines[i] ?? "") as AcceptedInstruction);
    } catch (e) {
      throw new AugmentError(`line ${i + 1}: expected ${snapshot.acceptedCount} accepted instructions`, { code: "BAD_CHECKPOINT", file: log, cause: e });
    }
  }
  const extra = lines.slice(snapshot.acceptedCount).some((l) => l !== "");
  if (extra) await writeText(log, accepted.map((a) => JSON.stringify(a) + "\n").join(""));
  return { snapshot, accepted };
}
