/** Bad input to an eval-metrics function: mismatched lengths, unknown ids, bad options. */
export class EvalInputError extends Error {
  override readonly name = "EvalInputError";
  readonly code: string;
  /** The offending field or option, when one is to blame. */
  readonly field: string | undefined;
  constructor(message: string, opts: { code?: string; field?: string; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.code = opts.code ?? "BAD_INPUT";
    this.field = opts.field;
  }
}
