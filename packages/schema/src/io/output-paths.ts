// Guard against a run that would overwrite its own input (or write two outputs to one file): every command that
// writes resolves its input and output paths to the file the file system would really touch, and compares those.
import { realpathSync, statSync } from "node:fs";
import path from "node:path";
import { SchemaError } from "../errors.js";

/** Two flags of one command name the same file: an output would overwrite an input or another output. */
export class PathCollisionError extends SchemaError {
  override readonly name = "PathCollisionError";
  /** The two flags, the output first. */
  readonly flags: [string, string];
  /** The two paths as given, in the order of `flags`. */
  readonly paths: [string, string];
  /** The file both resolve to. */
  readonly resolved: string;
  constructor(flags: [string, string], paths: [string, string], resolved: string, role: "input" | "output") {
    const same = paths[0] === paths[1] ? `"${paths[0]}"` : `"${paths[0]}" and "${paths[1]}"`;
    super(`${flags[0]} and ${flags[1]} name the same file (${same} → ${resolved}): the ${role} would be overwritten; choose another ${flags[0]}`, {
      code: "EPATHCOLLISION",
    });
    this.flags = flags;
    this.paths = paths;
    this.resolved = resolved;
  }
}

/** True for `-`, which stands for stdin or stdout and never collides with a file. */
export const isStdio = (p: string): boolean => p === "-";

/**
 * The path the file system would really touch for `p`: absolute, `.`/`..` and trailing slashes gone, symlinks
 * resolved (through the nearest ancestor that exists, so a file not yet written still resolves through a
 * symlinked folder), and the existing part spelled as the file system spells it (case on macOS/Windows).
 */
export function resolveRealPath(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const real = realpathSync.native(cur);
      return rest.length ? path.join(real, ...rest.reverse()) : real;
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return abs;
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** True when `child` is `parent` or lies inside it (after {@link resolveRealPath} on both). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(resolveRealPath(parent), resolveRealPath(child));
  return rel === "" || (!rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel));
}

type PathsByFlag = Readonly<Record<string, string | readonly string[] | undefined>>;

interface Entry {
  flag: string;
  given: string;
  real: string;
  /** device:inode of an existing file, so hard-to-spell aliases (bind mounts, case folding) still match. */
  id: string | undefined;
}

function entries(byFlag: PathsByFlag): Entry[] {
  const out: Entry[] = [];
  for (const [flag, v] of Object.entries(byFlag)) {
    if (v === undefined) continue;
    for (const given of typeof v === "string" ? [v] : v) {
      if (isStdio(given) || given === "") continue;
      const real = resolveRealPath(given);
      let id: string | undefined;
      try {
        const st = statSync(real);
        id = `${st.dev}:${st.ino}`;
      } catch {
        id = undefined;
      }
      out.push({ flag, given, real, id });
    }
  }
  return out;
}

const same = (a: Entry, b: Entry) => a.real === b.real || (a.id !== undefined && a.id === b.id);

/**
 * Refuse a command line whose outputs would overwrite one of its inputs or each other. Paths are compared after
 * {@link resolveRealPath} (`./x`, `x/`, `d/../x` and a symlink to `x` are all `x`) and, for files that exist, by
 * device and inode. `-` (stdin/stdout) and undefined flags are skipped.
 *
 * @param opts.inputs flag → path(s) read, e.g. `{ "<input>": files, "--index": dir }`
 * @param opts.outputs flag → path written, e.g. `{ "-o": out, "--rejects": rejects }`
 * @throws {PathCollisionError} naming both flags and both paths
 */
export function checkOutputPaths(opts: { inputs?: PathsByFlag; outputs: PathsByFlag }): void {
  const inputs = entries(opts.inputs ?? {});
  const outputs = entries(opts.outputs);
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i]!;
    for (const inp of inputs) {
      if (same(o, inp)) throw new PathCollisionError([o.flag, inp.flag], [o.given, inp.given], o.real, "input");
    }
    for (let j = 0; j < i; j++) {
      const p = outputs[j]!;
      if (same(o, p)) throw new PathCollisionError([o.flag, p.flag], [o.given, p.given], o.real, "output");
    }
  }
}
