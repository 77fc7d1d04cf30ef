/**
 * What went wrong, for callers to branch on (never on the message): `BAD_OPTION`, `NO_TEXT` (a record without text),
 * `PARSE_ERROR` (invalid JSON, a line that is not an object), `INVALID_UTF8` (bytes of a file read as UTF-8 that
 * are not; `dedupFiles` reads it again with encoding detection), `INPUT_CHANGED`, `INDEX_MISSING`, `INDEX_MISMATCH`,
 * `NO_WORKER`, `WORKER_FAILED`, `ABORTED` (the `signal` fired), `INTERNAL`. Open to codes added later.
 */
export type DedupErrorCode =
  | "BAD_OPTION"
  | "BAD_INPUT"
  | "NO_TEXT"
  | "PARSE_ERROR"
  | "INVALID_UTF8"
  | "INPUT_CHANGED"
  | "INDEX_MISSING"
  | "INDEX_MISMATCH"
  | "NO_PLAN"
  | "NO_WORKER"
  | "WORKER_FAILED"
  | "ABORTED"
  | "INTERNAL"
  | "DEDUP_ERROR"
  | (string & {});

/** Every error @sfmed/dedup throws. `code` says what went wrong; location fields are set where known. */
export class DedupError extends Error {
  override readonly name = "DedupError";
  readonly code: DedupErrorCode;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(
    message: string,
    opts: { code?: DedupErrorCode; file?: string | undefined; line?: number | undefined; field?: string | undefined; cause?: unknown } = {},
  ) {
    const where = [opts.file !== undefined ? (opts.line !== undefined ? `${opts.file}:${opts.line}` : opts.file) : opts.line !== undefined ? `record ${opts.line}` : "", opts.field ? `field ${opts.field}` : ""]
      .filter(Boolean)
      .join(" ");
    super(where ? `${where}: ${message}` : message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.code = opts.code ?? "DEDUP_ERROR";
    this.file = opts.file;
    this.line = opts.line;
    this.field = opts.field;
  }
}

/** Throws `ABORTED` once `signal` has fired (checked between batches and stages). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DedupError("aborted", { code: "ABORTED", cause: signal.reason });
}
