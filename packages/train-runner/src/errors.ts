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

/** `serve` did not become ready, or died. */
export class ServerStartError extends Error {
  override readonly name = "ServerStartError";
  constructor(
    message: string,
    readonly logPath?: string,
  ) {
    super(logPath ? `${message} (log: ${logPath})` : message);
  }
}
