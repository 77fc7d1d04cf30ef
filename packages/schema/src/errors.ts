/** Where a bad record sits: file, 1-based line (or row), and the field path inside the record. */
export interface RecordLocation {
  file?: string | undefined;
  line?: number | undefined;
  field?: string | undefined;
  /** 0-based byte offset in the (decompressed) file, for errors below the record level such as bad encoding. */
  byte?: number | undefined;
}

export function formatLocation(loc: RecordLocation): string {
  const parts: string[] = [];
  if (loc.file) parts.push(loc.line !== undefined ? `${loc.file}:${loc.line}` : loc.file);
  else if (loc.line !== undefined) parts.push(`line ${loc.line}`);
  if (loc.field) parts.push(`field ${loc.field}`);
  return parts.join(" ");
}

/** Base class of every error @sfmed/schema throws. Compare by `name` across package copies. */
export class SchemaError extends Error {
  override readonly name: string = "SchemaError";
  readonly code: string;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  readonly byte: number | undefined;
  constructor(message: string, opts: RecordLocation & { code?: string; cause?: unknown } = {}) {
    // With a byte offset the message itself says "at line L, byte B"; the prefix names only the file.
    const where = formatLocation(opts.byte !== undefined ? { file: opts.file } : opts);
    super(where ? `${where}: ${message}` : message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.code = opts.code ?? "SCHEMA_ERROR";
    this.file = opts.file;
    this.line = opts.line;
    this.field = opts.field;
    this.byte = opts.byte;
  }
}

/** A record failed validation. `reason` is the bare message without the location. */
export class ValidationError extends SchemaError {
  override readonly name = "ValidationError";
  readonly reason: string;
  constructor(reason: string, loc: RecordLocation & { cause?: unknown } = {}) {
    super(reason, { ...loc, code: "INVALID_RECORD" });
    this.reason = reason;
  }
}

/** Input could not be parsed at all (broken JSON, CSV, encoding). */
export class ParseError extends SchemaError {
  override readonly name = "ParseError";
  readonly reason: string;
  constructor(reason: string, loc: RecordLocation & { cause?: unknown } = {}) {
    super(reason, { ...loc, code: "PARSE_ERROR" });
    this.reason = reason;
  }
}

export function isSchemaError(e: unknown): e is SchemaError {
  return e instanceof Error && (e.name === "SchemaError" || e.name === "ValidationError" || e.name === "ParseError");
}
