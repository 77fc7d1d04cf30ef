// Temp files of atomic writes: a registry so an interrupted process can remove its own in-flight temps, and a
// sweep that removes the temps a killed process left behind. The library never installs signal handlers; the
// program that owns the process calls removeTempsNow() from its own.
import { rmSync } from "node:fs";
import { readdir, rm, stat } from "node:fs/promises";
import path from "node:path";

const live = new Set<string>();

/** Track an in-flight temp file (or temp folder, see `AtomicDir`); call the returned function once it was renamed into place or removed. */
export function registerTemp(file: string): () => void {
  const abs = path.resolve(file);
  live.add(abs);
  return () => {
    live.delete(abs);
  };
}

/** The temp files of this process that are still in flight. */
export function liveTemps(): string[] {
  return [...live];
}

/**
 * Remove every in-flight temp file of this process, synchronously (safe inside a signal handler).
 * @returns the paths removed
 */
export function removeTempsNow(): string[] {
  const removed: string[] = [];
  for (const f of live) {
    try {
      rmSync(f, { force: true, recursive: true }); // temp folders of AtomicDir too
      removed.push(f);
    } catch {
      // best effort: the process is going down
    }
  }
  live.clear();
  return removed;
}

/** `.<name>.<pid>.<rand>.tmp`, the names {@link tempPathFor} makes. */
const TEMP_NAME = /^\.(.+)\.(\d+)\.([a-z0-9]+)\.tmp$/;

/** The target name and writer pid of a temp file name, or undefined when it is not one of ours. */
export function parseTempName(name: string): { target: string; pid: number } | undefined {
  const m = TEMP_NAME.exec(name);
  return m ? { target: m[1]!, pid: Number(m[2]) } : undefined;
}

/** Whether a process with this pid runs on this machine (this one included; EPERM means alive, someone else's). */
export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // alive, owned by someone else
  }
}

/**
 * Remove the temp files and temp folders (see {@link tempPathFor}) that a killed run left in `dir`: those whose writer pid is no
 * longer alive on this machine and that are at least `olderThanMs` old. Temps of live processes (this one
 * included) are kept. A missing `dir` sweeps nothing.
 *
 * @param opts.olderThanMs only temps whose mtime is at least this old. @default 0
 * @param opts.prefix only temps of targets whose name starts with this (e.g. the output's base name)
 * @returns the paths removed
 */
export async function sweepStaleTemps(dir: string, opts: { olderThanMs?: number; prefix?: string } = {}): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const now = Date.now();
  for (const name of names) {
    const t = parseTempName(name);
    if (!t || (opts.prefix !== undefined && !t.target.startsWith(opts.prefix)) || isProcessAlive(t.pid)) continue;
    const file = path.join(dir, name);
    try {
      const st = await stat(file);
      if ((!st.isFile() && !st.isDirectory()) || now - st.mtimeMs < (opts.olderThanMs ?? 0)) continue;
      await rm(file, { force: true, recursive: true });
      removed.push(file);
    } catch {
      // gone already
    }
  }
  return removed;
}

/** A temp path beside `file`, so the final rename stays on one file system. */
export function tempPathFor(file: string): string {
  const dir = path.dirname(file);
  const rand = Math.random().toString(36).slice(2, 10) || "0";
  return path.join(dir, `.${path.basename(file)}.${process.pid}.${rand}.tmp`);
}
