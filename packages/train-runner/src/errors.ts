import type { ErrorEvent } from "./events.js";

/** Python is missing, too old, or the trainer environment could not be created. `fix` says what to do. */
export class TrainerEnvError extends Error {
  override readonly name = "TrainerEnvError";
  constructor(
    message: string,
    readonly fix: string,
    options?: ErrorOptions,
  ) {
    super(`${message}\n  fix: ${fix}`, options);
  }
}

/** A job document does not match the trainer's JSON Schema. `path` is the offending key path. */
export class JobValidationError extends Error {
  override readonly name = "JobValidationError";
  constructor(
    message: string,
    readonly path: string,
    readonly file?: string,
  ) {
    super(`${file ? `${file}: ` : ""}${path ? `${path}: ` : ""}${message}`);
  }
}

/** The trainer exited with an error. Holds the trainer's `error` event (when it sent one) and the log path. */
export class TrainerRunError extends Error {
  override readonly name = "TrainerRunError";
  constructor(
    message: string,
    readonly logPath: string,
    readonly exitCode: number | null,
    readonly event?: ErrorEvent,
  ) {
    super(`${message} (log: ${logPath})`);
  }
}

/** `serve` did not become ready, or died. `tail` holds the last lines of its log (shown in the message). */
export class ServerStartError extends Error {
  override readonly name = "ServerStartError";
  constructor(
    message: string,
    readonly logPath?: string,
    readonly tail: string[] = [],
  ) {
    super(`${logPath ? `${message} (log: ${logPath})` : message}${tail.length ? `; its last ${tail.length} log lines:\n${tail.map((l) => `  | ${l}`).join("\n")}` : ""}`);
  }
}

/**
 * A job the schema accepts but whose values are unsafe together, e.g. an online-merging α that, summed over the
 * planned optimizer steps, would move the weights by many task vectors. `field` is the key path to change.
 */
export class JobConfigError extends Error {
  override readonly name = "JobConfigError";
  readonly code: "alpha_steps" | "out_of_range";
  readonly field: string;
  readonly file: string | undefined;
  /** For `alpha_steps`: α, the planned optimizer steps and their product. */
  readonly alpha: number | undefined;
  readonly plannedSteps: number | undefined;
  readonly product: number | undefined;
  constructor(
    message: string,
    info: { code: JobConfigError["code"]; field: string; file?: string; alpha?: number; plannedSteps?: number; product?: number },
  ) {
    super(`${info.file ? `${info.file}: ` : ""}${info.field}: ${message}`);
    this.code = info.code;
    this.field = info.field;
    this.file = info.file;
    this.alpha = info.alpha;
    this.plannedSteps = info.plannedSteps;
    this.product = info.product;
  }
}

/**
 * Launch settings that cannot work together (sharding on one process, a node rank past the node count).
 * `code` is always `BAD_OPTION` (as in the other packages' option errors); `field` names the setting to change.
 */
export class LaunchPlanError extends Error {
  override readonly name = "LaunchPlanError";
  readonly code = "BAD_OPTION" as const;
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(`${field}: ${message}`);
  }
}
