/** Why one input row was left out of a stage: where it sits and what was wrong with it. */
export interface RejectedRow {
  /** 1-based line (or row) in the input. */
  line: number;
  file?: string | undefined;
  /** The row's id, when it had a readable one. */
  id?: string | undefined;
  /** Field path of the offending value, e.g. `scores.chosen[2]`. */
  field?: string | undefined;
  reason: string;
}

/** Base class of every error @sfmed/pref-select throws. Compare by `name` across package copies. */
export class PrefSelectError extends Error {
  override readonly name: string = "PrefSelectError";
  readonly code: string;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(message: string, opts: { code?: string; file?: string; line?: number; field?: string; cause?: unknown } = {}) {
    const where = opts.file ? (opts.line !== undefined ? `${opts.file}:${opts.line}` : opts.file) : opts.line !== undefined ? `line ${opts.line}` : "";
    const at = [where, opts.field ? `field ${opts.field}` : ""].filter(Boolean).join(" ");
    super(at ? `${at}: ${message}` : message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.code = opts.code ?? "PREF_SELECT_ERROR";
    this.file = opts.file;
    this.line = opts.line;
    this.field = opts.field;
  }
}

/** An option is out of range (e.g. `flip + drop > 1`). */
export class OptionError extends PrefSelectError {
  override readonly name = "OptionError";
  constructor(message: string, field: string) {
    super(message, { code: "BAD_OPTION", field });
  }
}

/** A checkpoint belongs to a different run (other judges, seed or input) and cannot be resumed. */
export class CheckpointMismatchError extends PrefSelectError {
  override readonly name = "CheckpointMismatchError";
  constructor(message: string, file: string) {
    super(message, { code: "CHECKPOINT_MISMATCH", file });
  }
}

/** A judge or reward model call failed; the run stopped and can be resumed from its checkpoint. */
export class ModelCallError extends PrefSelectError {
  override readonly name = "ModelCallError";
  readonly model: string;
  constructor(message: string, model: string, cause: unknown) {
    super(message, { code: "MODEL_CALL_FAILED", cause });
    this.model = model;
  }
}
