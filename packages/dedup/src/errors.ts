/** Every error @sfmed/dedup throws. `code` says what went wrong; location fields are set where known. */
export class DedupError extends Error {
  override readonly name = "DedupError";
  readonly code: string;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(
    message: string,
    opts: { code?: string; file?: string | undefined; line?: number | undefined; field?: string | undefined; cause?: unknown } = {},
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
