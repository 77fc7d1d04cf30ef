import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { AugmentError } from "./augment-error.js";
import { CheckpointError, JsonlCheckpoint, atomicWrite } from "@sfmed/schema";
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
 * tools globbing `*.jsonl` do not take it for output); a step then writes only its own instructions. The log is
 * the schema's `JsonlCheckpoint` (no header, one instruction per line, fsync'd), cut back on resume to the
 * `acceptedCount` entries the snapshot covers.
 */
// Checkpoints are read back as plain text, so a user-chosen name ending in .gz must not turn on compression.
const writeText = (file: string, text: string): Promise<void> => atomicWrite(file, [text], { gzip: false });

export const acceptedLogPath = (checkpoint: string): string => `${checkpoint}.accepted.log`;

const badCheckpoint = (message: string, file: string, cause?: unknown): AugmentError => new AugmentError(message, { code: "BAD_CHECKPOINT", file, cause });

async function readSnapshot(file: string): Promise<CheckpointSnapshot | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw badCheckpoint(`cannot read checkpoint: ${(e as Error).message}`, file, e);
  }
  try {
    const snapshot = JSON.parse(text) as CheckpointSnapshot;
    if (snapshot.version !== 2 || !Array.isArray(snapshot.rng) || !snapshot.banks || !Number.isInteger(snapshot.acceptedCount)) {
      throw new Error("not an augmentation checkpoint");
    }
    return snapshot;
  } catch (e) {
    throw badCheckpoint(`unreadable checkpoint: ${(e as Error).message}`, file, e);
  }
}

/** A run's checkpoint, open for the steps to come: the snapshot file and the accepted log. */
export class AugmentCheckpoint {
  private constructor(
    readonly file: string,
    private readonly log: JsonlCheckpoint<AcceptedInstruction>,
  ) {}

  /** Start a fresh checkpoint: an empty log, then the snapshot. */
  static async start(file: string, snap: CheckpointSnapshot): Promise<AugmentCheckpoint> {
    const logFile = acceptedLogPath(file);
    await rm(logFile, { force: true });
    const log = await JsonlCheckpoint.open<AcceptedInstruction>(logFile, { key: (a) => a.text });
    try {
      await writeText(file, JSON.stringify(snap));
    } catch (e) {
      await log.close();
      throw e;
    }
    return new AugmentCheckpoint(file, log);
  }

  /**
   * Open an existing checkpoint: the snapshot and the first `acceptedCount` log entries. Lines past those (from a
   * step that crashed after appending, or a torn last line) are cut off the log so later appends continue cleanly.
   * @returns undefined when there is no checkpoint
   * @throws {AugmentError} BAD_CHECKPOINT when the snapshot or the log is unreadable or the log is short
   */
  static async resume(file: string): Promise<{ checkpoint: AugmentCheckpoint; snapshot: CheckpointSnapshot; accepted: AcceptedInstruction[] } | undefined> {
    const snapshot = await readSnapshot(file);
    if (!snapshot) return undefined;
    const logFile = acceptedLogPath(file);
    if (snapshot.acceptedCount > 0 && !existsSync(logFile)) throw badCheckpoint("cannot read the accepted log: no such file", logFile);
    let log: JsonlCheckpoint<AcceptedInstruction>;
    try {
      log = await JsonlCheckpoint.open<AcceptedInstruction>(logFile, { key: (a) => a.text, maxEntries: snapshot.acceptedCount });
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      throw badCheckpoint(`the accepted log is broken: ${e.message}`, logFile, e);
    }
    const accepted = [...log.done.values()];
    if (accepted.length < snapshot.acceptedCount) {
      await log.close();
      throw badCheckpoint(`line ${accepted.length + 1}: expected ${snapshot.acceptedCount} accepted instructions`, logFile);
    }
    return { checkpoint: new AugmentCheckpoint(file, log), snapshot, accepted };
  }

  /**
   * Record one finished step: append its accepted instructions to the log, then replace the snapshot. A crash
   * between the two leaves extra log lines that the snapshot does not count; {@link AugmentCheckpoint.resume} drops them.
   */
  async saveStep(snap: CheckpointSnapshot, accepted: readonly AcceptedInstruction[]): Promise<void> {
    await Promise.all(accepted.map((a) => this.log.append(a)));
    await writeText(this.file, JSON.stringify(snap));
  }

  /** Close the log (the checkpoint stays on disk). */
  close(): Promise<void> {
    return this.log.close();
  }
}

/**
 * Read a checkpoint: the snapshot and the first `acceptedCount` log entries. Lines past those (from a step that
 * crashed after appending, or a torn last line) are cut off the log so later appends continue cleanly.
 * @returns undefined when there is no checkpoint
 * @throws {AugmentError} BAD_CHECKPOINT when the snapshot or the log is unreadable or the log is short
 */
export async function loadCheckpoint(file: string): Promise<{ snapshot: CheckpointSnapshot; accepted: AcceptedInstruction[] } | undefined> {
  const r = await AugmentCheckpoint.resume(file);
  if (!r) return undefined;
  await r.checkpoint.close();
  return { snapshot: r.snapshot, accepted: r.accepted };
}
