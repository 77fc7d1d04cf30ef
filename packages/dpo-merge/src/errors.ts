/** Machine-readable reasons a safetensors file or checkpoint is rejected. */
export type SafetensorsErrorCode =
  | "TOO_SMALL"
  | "HEADER_TOO_LARGE"
  | "HEADER_OUT_OF_BOUNDS"
  | "HEADER_NOT_JSON"
  | "HEADER_INVALID"
  | "UNKNOWN_DTYPE"
  | "BAD_SHAPE"
  | "BAD_OFFSETS"
  | "SIZE_MISMATCH"
  | "OVERLAP"
  | "HOLE"
  | "TRAILING_BYTES"
  | "TRUNCATED"
  | "NO_TENSOR"
  | "UNSUPPORTED_DTYPE"
  | "WRITE_ORDER"
  | "INDEX_INVALID"
  | "NOT_A_CHECKPOINT";

/** A safetensors file, shard index or checkpoint folder is malformed or used wrongly. */
export class SafetensorsError extends Error {
  override readonly name = "SafetensorsError";
  readonly code: SafetensorsErrorCode;
  readonly file: string | undefined;
  /** Tensor name (or header key) the problem is about, when there is one. */
  readonly field: string | undefined;
  constructor(
    message: string,
    opts: { code: SafetensorsErrorCode; file?: string | undefined; field?: string | undefined; cause?: unknown },
  ) {
    const where = [opts.file, opts.field ? `tensor ${JSON.stringify(opts.field)}` : undefined].filter(Boolean).join(" ");
    super(where ? `${where}: ${message}` : message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.code = opts.code;
    this.file = opts.file;
    this.field = opts.field;
  }
}

/**
 * Why merge inputs were refused: `BAD_OPTION`, an option value out of range or missing (what a user typed as a
 * flag); `INPUT_MISMATCH`, the tensors or arrays disagree (lengths, shapes, dtypes, a missing tensor).
 */
export type MergeInputErrorCode = "BAD_OPTION" | "INPUT_MISMATCH";

/** Inputs to a merge operator, DPO loss or job builder are inconsistent (lengths, ranges, shapes). */
export class MergeInputError extends Error {
  override readonly name = "MergeInputError";
  readonly code: MergeInputErrorCode;
  /** The option or tensor the problem is about. */
  readonly field: string | undefined;
  constructor(message: string, opts: { code?: MergeInputErrorCode; field?: string | undefined; cause?: unknown } = {}) {
    super(opts.field ? `${opts.field}: ${message}` : message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.code = opts.code ?? "INPUT_MISMATCH";
    this.field = opts.field;
  }
}
