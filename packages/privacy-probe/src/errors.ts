/** Where bad input sits: file, 1-based line, and the field inside the record. */
export interface InputLocation {
  file?: string | undefined;
  line?: number | undefined;
  field?: string | undefined;
}

function where(loc: InputLocation): string {
  const parts: string[] = [];
  if (loc.file) parts.push(loc.line !== undefined ? `${loc.file}:${loc.line}` : loc.file);
  else if (loc.line !== undefined) parts.push(`line ${loc.line}`);
  if (loc.field) parts.push(`field ${loc.field}`);
  return parts.join(" ");
}

/**
 * Every error this package throws. `code` says what went wrong in a machine-readable way:
 * `BAD_INPUT` (a record or flag is wrong), `BAD_FILE` (an index, database or gate file is corrupt or of another
 * version), `DIM_MISMATCH` (vectors of different widths), `NO_SALT` (hash redaction without a salt),
 * `MODEL_ERROR` (the model returned something unusable).
 */
export class PrivacyProbeError extends Error {
  override readonly name = "PrivacyProbeError";
  readonly code: string;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(message: string, opts: InputLocation & { code?: string; cause?: unknown } = {}) {
    const w = where(opts);
    super(w ? `${w}: ${message}` : message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.code = opts.code ?? "BAD_INPUT";
    this.file = opts.file;
    this.line = opts.line;
    this.field = opts.field;
  }
}
