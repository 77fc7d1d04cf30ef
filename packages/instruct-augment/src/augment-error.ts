export type AugmentErrorCode = "BAD_SEEDS" | "TOO_FEW_SEEDS" | "BAD_OPTIONS" | "BAD_CHECKPOINT" | "CHECKPOINT_MISMATCH" | "BAD_INSTRUCTIONS";

/** A problem with the inputs or the checkpoint of an augmentation run. */
export class AugmentError extends Error {
  override readonly name = "AugmentError";
  readonly code: AugmentErrorCode;
  readonly file: string | undefined;
  readonly field: string | undefined;
  constructor(message: string, opts: { code: AugmentErrorCode; file?: string | undefined; field?: string | undefined; cause?: unknown }) {
    super(opts.file ? `${opts.file}: ${message}` : message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.code = opts.code;
    this.file = opts.file;
    this.field = opts.field;
  }
}
