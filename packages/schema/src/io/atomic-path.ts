// For files that another library writes by path (a Parquet writer that streams row groups, a native tool): the
// same temp-beside-then-rename contract as `AtomicFile`, with the writing left to the caller.
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { registerTemp, tempPathFor } from "./temp-files.js";

/**
 * A temp path beside `file` for a writer that takes a path: write to `path`, then `commit()` renames it over
 * `file` (readers never see half a file) or `abort()` removes it. While open the temp is registered, so
 * `removeTempsNow()` removes it on a signal and `sweepStaleTemps(dir)` removes one a killed run left.
 * @example
 * const out = await AtomicPath.create("edges.parquet");
 * try { writeWith(fileWriter(out.path)); await out.commit(); } catch (e) { await out.abort(); throw e; }
 */
export class AtomicPath {
  private constructor(
    readonly file: string,
    /** The temp file to write. */
    readonly path: string,
    private readonly unregister: () => void,
  ) {}

  /** Reserve a temp path beside `file` (its folder is created; the temp itself is not). */
  static async create(file: string): Promise<AtomicPath> {
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const tmp = tempPathFor(file);
    return new AtomicPath(file, tmp, registerTemp(tmp));
  }

  /** Rename the written temp over `file`. */
  async commit(): Promise<void> {
    await rename(this.path, this.file);
    this.unregister();
  }

  /** Remove the temp (written or not); `file` is left as it was. */
  async abort(): Promise<void> {
    await rm(this.path, { force: true });
    this.unregister();
  }
}
