import { isUtf8 } from "node:buffer";
import { DedupError } from "./errors.js";
import { createBatchComputer, type BatchParams, type BatchResult } from "./signature-batch.js";
import { textOf } from "./text-view.js";

/** How the records of a JSONL chunk are read; plain data so it can be posted to a worker thread. */
export interface JsonlView {
  /** Text field (see `textOf`); undefined = `text`, else Dialogue messages. */
  field?: string | undefined;
  /** Field holding a record's source. @default "source" */
  sourceField: string;
  /** Source of records without a string `sourceField` (the file's name). */
  defaultSource: string;
  /** Field holding a record's id (string or number). @default "id" */
  idField: string;
  /** Return ids (else none are read). */
  needIds: boolean;
  /** Return text lengths (UTF-16 code units, as `String.length`). */
  needLengths: boolean;
}

/** Per-chunk output: signatures of its records plus what the calling thread keeps per record. */
export interface JsonlBatchResult {
  batch: BatchResult;
  /** Physical lines in the chunk (blank ones included), to number the next chunk's lines. */
  lines: number;
  /** Distinct sources of the chunk, in first-seen order, and each record's index into them. */
  sourceNames: string[];
  sourceOf: Int32Array;
  lengths?: Int32Array;
  /** Ids (null where the record has none) and, for those, the line within the chunk (1-based). */
  ids?: Array<string | null>;
  idLines?: Int32Array;
}

/** A bad record inside a chunk; the calling thread turns it into a `DedupError` with the absolute line. */
export interface JsonlBatchError {
  code: string;
  message: string;
  /** 1-based line within the chunk. */
  line: number;
  field?: string | undefined;
}

/** The lines `String.prototype.trim` leaves empty are skipped, like the generic JSONL readers do. */
export function isBlankLine(text: string): boolean {
  return text.trim() === "";
}

/**
 * A function that reads a chunk of whole JSONL lines (UTF-8 bytes) and returns the signatures of its records:
 * decode → split lines (LF or CRLF) → JSON.parse → text view → normalise → shingle → MinHash → band keys. Used
 * on worker threads and on the calling thread alike.
 */
export function createJsonlBatchComputer(params: BatchParams): (bytes: Uint8Array, view: JsonlView) => JsonlBatchResult | JsonlBatchError {
  const compute = createBatchComputer(params);
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  return (bytes, view) => {
    const text = decodeChunk(bytes, decoder);
    if (typeof text !== "string") return text;
    const texts: string[] = [];
    const sourceNames: string[] = [];
    const sourceIndex = new Map<string, number>();
    const sourceList: number[] = [];
    const lengths: number[] | undefined = view.needLengths ? [] : undefined;
    const ids: Array<string | null> | undefined = view.needIds ? [] : undefined;
    const idLines: number[] | undefined = view.needIds ? [] : undefined;
    let line = 0;
    let start = 0;
    while (start < text.length) {
      let nl = text.indexOf("\n", start);
      if (nl < 0) nl = text.length;
      line++;
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      const raw = text.slice(start, end);
      start = nl + 1;
      if (isBlankLine(raw)) continue;
      let record: unknown;
      try {
        record = JSON.parse(raw);
      } catch (cause) {
        return { code: "PARSE_ERROR", message: `invalid JSON: ${(cause as Error).message}`, line };
      }
      if (!record || typeof record !== "object" || Array.isArray(record)) return { code: "PARSE_ERROR", message: "a record must be a JSON object", line };
      let t: string;
      try {
        t = textOf(record, { field: view.field });
      } catch (err) {
        if (err instanceof DedupError) return { code: err.code, message: stripLocation(err), line, field: err.field };
        throw err;
      }
      texts.push(t);
      lengths?.push(t.length);
      const rec = record as Record<string, unknown>;
      const s = rec[view.sourceField];
      const src = typeof s === "string" ? s : view.defaultSource;
      let si = sourceIndex.get(src);
      if (si === undefined) {
        si = sourceNames.length;
        sourceIndex.set(src, si);
        sourceNames.push(src);
      }
      sourceList.push(si);
      if (ids) {
        const v = rec[view.idField];
        ids.push(typeof v === "string" ? v : typeof v === "number" ? String(v) : null);
        idLines!.push(line);
      }
    }
    const out: JsonlBatchResult = { batch: compute(texts), lines: line, sourceNames, sourceOf: Int32Array.from(sourceList) };
    if (lengths) out.lengths = Int32Array.from(lengths);
    if (ids) {
      out.ids = ids;
      out.idLines = Int32Array.from(idLines!);
    }
    return out;
  };
}

/** The chunk as text, or the error naming the first line that is not valid UTF-8. */
function decodeChunk(bytes: Uint8Array, decoder: { decode(b: Uint8Array): string }): string | JsonlBatchError {
  // validate, then decode without checks (both simdutf-backed: several times faster than a fatal TextDecoder)
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  // name the line: decode line by line until the bad one
  let line = 1;
  let start = 0;
  for (;;) {
    const nl = bytes.indexOf(10, start);
    const end = nl < 0 ? bytes.length : nl;
    try {
      decoder.decode(bytes.subarray(start, end));
    } catch {
      return { code: "INVALID_UTF8", message: "invalid UTF-8 bytes", line };
    }
    if (nl < 0) return { code: "INVALID_UTF8", message: "invalid UTF-8 bytes", line };
    start = nl + 1;
    line++;
  }
}

/** The message of a DedupError thrown without file and line, less its "field X: " prefix (the caller adds it). */
function stripLocation(err: DedupError): string {
  const prefix = err.field ? `field ${err.field}: ` : "";
  return prefix && err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

export function isBatchError(r: JsonlBatchResult | JsonlBatchError): r is JsonlBatchError {
  return (r as JsonlBatchError).code !== undefined;
}
