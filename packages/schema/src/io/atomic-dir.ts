// Folders written whole (an index, a merged checkpoint): the files go into a temp folder beside the target, which
// replaces the target only once everything is written and synced, so readers see the old folder or the new one.
import { mkdir, open, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { registerTemp, tempPathFor } from "./temp-files.js";

/** fsync a file or folder; folders cannot be opened for sync on some systems (Windows), which is not an error. */
async function syncPath(p: string): Promise<void> {
  let fh;
  try {
    fh = await open(p, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EISDIR" || code === "EPERM" || code === "EACCES") return;
    throw e;
  }
  try {
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EPERM" && code !== "EBADF") throw e;
  } finally {
    await fh.close();
  }
}

/** fsync every file under `dir`, then the folders bottom-up. */
async function syncTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await syncTree(p);
    else if (e.isFile()) await syncPath(p);
  }
  await syncPath(dir);
}

/**
 * Replace the folder `finalDir` with `tmpDir` (a finished folder on the same file system, usually from
 * {@link AtomicDir}): sync `tmpDir`'s files, move an existing `finalDir` aside, rename `tmpDir` into place, sync
 * the parent and remove the old folder. If the rename fails the old folder is put back.
 *
 * A crash between the two renames (a few microseconds) leaves `finalDir` missing and the previous folder at
 * `.<name>.<pid>.<rand>.old` beside it; that backup is not swept as a temp, so nothing is lost.
 * @throws whatever the file system throws (`tmpDir` is then left where it was)
 */
export async function replaceDir(tmpDir: string, finalDir: string): Promise<void> {
  await syncTree(tmpDir);
  const backup = tempPathFor(finalDir).replace(/\.tmp$/, ".old");
  let moved = false;
  try {
    await rename(finalDir, backup);
    moved = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  try {
    await rename(tmpDir, finalDir);
  } catch (e) {
    if (moved) await rename(backup, finalDir);
    throw e;
  }
  await syncPath(path.dirname(path.resolve(finalDir)));
  if (moved) await rm(backup, { recursive: true, force: true });
}

/**
 * A folder written through a temp folder beside it: write into `path`, then `commit()` replaces `finalDir`
 * (see {@link replaceDir}) or `abort()` removes the temp. While open the temp is registered, so
 * `removeTempsNow()` removes it on a signal, and `sweepStaleTemps(parent)` removes one a killed run left.
 * @example
 * const out = await AtomicDir.create("index");
 * try { await writeShards(out.path); await out.commit(); } catch (e) { await out.abort(); throw e; }
 */
export class AtomicDir {
  private constructor(
    readonly finalDir: string,
    /** The temp folder to write into. */
    readonly path: string,
    private readonly unregister: () => void,
  ) {}

  /** Make an empty temp folder beside `finalDir` (its parent is created). */
  static async create(finalDir: string): Promise<AtomicDir> {
    await mkdir(path.dirname(path.resolve(finalDir)), { recursive: true });
    const tmp = tempPathFor(finalDir);
    const unregister = registerTemp(tmp);
    try {
      await mkdir(tmp);
    } catch (e) {
      unregister();
      throw e;
    }
    return new AtomicDir(finalDir, tmp, unregister);
  }

  /** Replace `finalDir` with what was written. */
  async commit(): Promise<void> {
    await replaceDir(this.path, this.finalDir);
    this.unregister();
  }

  /** Remove the temp folder; `finalDir` is left as it was. */
  async abort(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
    this.unregister();
  }
}
