// One resumable checkpoint for every long stage: an append-only JSONL file written as work finishes, fsync'd so a
// crash loses at most the line being written, and read back on the next run to skip finished work.
import { mkdir, open, readFile, truncate, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { SchemaError } from "../errors.js";

/** The checkpoint file belongs to another run (its header differs) or is broken before its last line. */
export class CheckpointError extends SchemaError {
  override readonly name = "CheckpointError";
  constructor(message: string, opts: { file: string; line?: number; code?: "CHECKPOINT_MISMATCH" | "CHECKPOINT_BROKEN"; cause?: unknown }) {
    super(message, { file: opts.file, line: opts.line, code: opts.code ?? "CHECKPOINT_BROKEN", cause: opts.cause });
  }
}

/** Options of {@link JsonlCheckpoint.open}. */
export interface JsonlCheckpointOptions<T> {
  /**
   * Identifies the run (seed, model, parameters, input hash). Written as the first line; a checkpoint whose
   * header differs is refused with a {@link CheckpointError} (`CHECKPOINT_MISMATCH`), so a changed run never
   * resumes from another run's work. @default no header line
   */
  header?: unknown;
  /** The key of an entry; a later entry with the same key replaces an earlier one in {@link JsonlCheckpoint.done}. */
  key: (entry: T) => string;
  /** Told about recoverable trouble (a torn last line from a killed run, which is dropped and redone). */
  onWarning?: (message: string) => void;
  /** fsync after every append (a crash then loses at most the line in flight). @default true */
  fsync?: boolean;
  /**
   * Keep only the first this many entries (after the header): later lines, work past a state the caller saved
   * elsewhere (e.g. a snapshot counting the entries it covers), are cut off the file and not read. @default all
   */
  maxEntries?: number;
}

const stable = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );

/**
 * An append-only JSONL checkpoint keyed by entry. `open` reads back what an earlier run finished (a torn last
 * line is cut off the file with a warning; a broken line before it is an error naming the line), `append`
 * adds one entry per line (serialised, so concurrent appends never interleave; fsync'd), `close` releases the
 * file. Remove the file yourself once the stage's output was committed, if it is no longer wanted.
 */
export class JsonlCheckpoint<T> {
  private chain: Promise<void> = Promise.resolve();
  private constructor(
    readonly file: string,
    /** Finished entries by key, in file order (later duplicates replace earlier ones). */
    readonly done: Map<string, T>,
    private readonly fh: FileHandle,
    private readonly key: (entry: T) => string,
    private readonly sync: boolean,
  ) {}

  /**
   * Open or start the checkpoint at `file` (its folder is created).
   * @throws {CheckpointError} on a header mismatch, or a broken line other than the last
   */
  static async open<T>(file: string, opts: JsonlCheckpointOptions<T>): Promise<JsonlCheckpoint<T>> {
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const buf = await readIfExists(file);
    const { done, keep, sawHeader } = parseCheckpoint(file, buf, opts);
    if (buf && keep < buf.length) await truncate(file, keep);
    const fh = await open(file, "a");
    try {
      if (keep > 0 && buf![keep - 1] !== 0x0a) await fh.write("\n"); // a complete last line that lost its newline
      if (opts.header !== undefined && !sawHeader) await fh.write(stable(opts.header) + "\n");
      if (opts.fsync ?? true) await fh.datasync();
    } catch (e) {
      await fh.close();
      throw e;
    }
    return new JsonlCheckpoint<T>(file, done, fh, opts.key, opts.fsync ?? true);
  }

  /**
   * Read the finished entries of a checkpoint without opening it for appends: nothing is created, cut or written
   * (a torn last line is skipped with a warning). A missing file reads as empty.
   * @throws {CheckpointError} like {@link JsonlCheckpoint.open}
   */
  static async read<T>(file: string, opts: Omit<JsonlCheckpointOptions<T>, "fsync">): Promise<Map<string, T>> {
    return parseCheckpoint(file, await readIfExists(file), opts).done;
  }

  /** True when an entry with this key was finished (by an earlier run or this one). */
  has(key: string): boolean {
    return this.done.has(key);
  }

  /** Append one finished entry (in call order; resolves once it is on disk). */
  append(entry: T): Promise<void> {
    this.done.set(this.key(entry), entry);
    const line = Buffer.from(JSON.stringify(entry) + "\n");
    this.chain = this.chain.then(async () => {
      await this.fh.write(line);
      if (this.sync) await this.fh.datasync();
    });
    return this.chain;
  }

  /** Wait for every append so far. */
  flush(): Promise<void> {
    return this.chain;
  }

  /** Flush and close the file (the checkpoint stays on disk). */
  async close(): Promise<void> {
    try {
      await this.chain;
    } finally {
      await this.fh.close();
    }
  }
}

async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    return undefined;
  }
}

/** The entries of a checkpoint's bytes, and how many leading bytes hold whole, kept lines. */
function parseCheckpoint<T>(file: string, buf: Buffer | undefined, opts: Omit<JsonlCheckpointOptions<T>, "fsync">): { done: Map<string, T>; keep: number; sawHeader: boolean } {
  const done = new Map<string, T>();
  const wantHeader = opts.header !== undefined;
  const max = opts.maxEntries ?? Number.POSITIVE_INFINITY;
  let keep = 0; // bytes of whole, good lines
  let sawHeader = false;
  let entries = 0;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (let start = 0, line = 1; buf && start < buf.length && entries < max; line++) {
    const nl = buf.indexOf(0x0a, start);
    const end = nl === -1 ? buf.length : nl;
    let value: unknown;
    try {
      const text = decoder.decode(buf.subarray(start, end)).trim();
      value = text ? JSON.parse(text) : undefined;
    } catch (cause) {
      if (nl !== -1) throw new CheckpointError(`broken checkpoint line (${(cause as Error).message}); remove the file to start over`, { file, line, cause });
      opts.onWarning?.(`${file}:${line}: dropped a torn last line from an interrupted run (it will be redone)`);
      break;
    }
    keep = end;
    if (value !== undefined) {
      if (wantHeader && !sawHeader) {
        checkHeader(file, line, value, opts.header);
        sawHeader = true;
      } else {
        done.set(opts.key(value as T), value as T);
        entries++;
      }
    }
    if (nl === -1) break;
    keep = nl + 1;
    start = nl + 1;
  }
  return { done, keep, sawHeader };
}

function checkHeader(file: string, line: number, got: unknown, want: unknown): void {
  if (stable(got) !== stable(want)) {
    throw new CheckpointError(`the checkpoint belongs to another run (header ${stable(got)}, this run ${stable(want)}); remove the file or pass the same parameters`, {
      file,
      line,
      code: "CHECKPOINT_MISMATCH",
    });
  }
}
