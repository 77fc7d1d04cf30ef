import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { isSchemaError, type SchemaError } from "../errors.js";
import { registerTemp, tempPathFor } from "./temp-files.js";

/** What is policy on bad input: stop at the first one, or set it aside and go on. */
export type OnInvalid = "error" | "skip";

/** One rejected input record, as written (one JSON object per line) to a rejects file. */
export interface Reject {
  file: string;
  /** 1-based line of the input where the record starts (for CSV, the physical line of the row). */
  line: number;
  /** Field path inside the record, e.g. `messages[1].role`, when the error is about one field. */
  field?: string;
  /** Why it was rejected, without the location. */
  reason: string;
  /** `PARSE_ERROR` or `INVALID_RECORD`. */
  code: string;
  /** The input as read: the raw line for JSONL, the parsed value otherwise. */
  raw: unknown;
}

/** Where rejected records go. {@link createRejectsFile} writes them as JSONL. */
export interface RejectSink {
  write(reject: Reject): void | Promise<void>;
}

/** A rejects JSONL file written atomically: `commit()` renames it into place, `abort()` removes it. */
export interface RejectsFile extends RejectSink {
  readonly path: string;
  readonly count: number;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Open a rejects JSONL file (temp file until `commit()`). */
export async function createRejectsFile(file: string): Promise<RejectsFile> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = tempPathFor(file);
  const unregister = registerTemp(tmp);
  const out: WriteStream = createWriteStream(tmp);
  let count = 0;
  let closed = false;
  const close = () =>
    new Promise<void>((resolve, reject) => {
      if (closed) return resolve();
      closed = true;
      out.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  return {
    path: file,
    get count() {
      return count;
    },
    async write(r) {
      count++;
      if (!out.write(JSON.stringify(r) + "\n")) await new Promise<void>((res) => out.once("drain", () => res()));
    },
    async commit() {
      await close();
      await rename(tmp, file);
      unregister();
    },
    async abort() {
      await close().catch(() => undefined);
      await rm(tmp, { force: true });
      unregister();
    },
  };
}

/** Reject entry for an error raised while reading `raw`. */
export function rejectFrom(err: SchemaError, fallback: { file: string; line: number }, raw: unknown): Reject {
  const r: Reject = {
    file: err.file ?? fallback.file,
    line: err.line ?? fallback.line,
    reason: "reason" in err && typeof err.reason === "string" ? err.reason : err.message,
    code: err.code,
    raw,
  };
  if (err.field) r.field = err.field;
  return r;
}

/**
 * Applies the `onInvalid` policy for one read: throws on the first bad record with `error`; with `skip`, sends
 * it to the rejects sink (a path is opened here and committed by `finish()`) and counts it.
 */
export class InvalidPolicy {
  rejected = 0;
  private sink: RejectSink | undefined;
  private owned: RejectsFile | undefined;
  private opening: Promise<void> | undefined;
  constructor(
    readonly onInvalid: OnInvalid,
    private readonly rejects: string | RejectSink | undefined,
  ) {
    if (rejects && typeof rejects !== "string") this.sink = rejects;
  }

  /** Handle one bad record: throw (policy `error`) or record it (policy `skip`). */
  async handle(err: unknown, at: { file: string; line: number }, raw: unknown): Promise<void> {
    if (!isSchemaError(err)) throw err;
    if (this.onInvalid === "error") throw err;
    this.rejected++;
    if (typeof this.rejects === "string" && !this.owned) {
      this.opening ??= createRejectsFile(this.rejects).then((f) => {
        this.owned = f;
        this.sink = f;
      });
      await this.opening;
    }
    await this.sink?.write(rejectFrom(err, at, raw));
  }

  /** Commit an owned rejects file (created even when nothing was rejected, so its absence never misleads). */
  async finish(ok: boolean): Promise<void> {
    if (typeof this.rejects !== "string") return;
    if (!ok) {
      await this.owned?.abort();
      return;
    }
    if (!this.owned) this.owned = await createRejectsFile(this.rejects);
    await this.owned.commit();
  }
}
