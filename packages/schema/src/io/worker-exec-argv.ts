// Worker threads inherit the parent's `execArgv` by default. Flags that describe the parent's own entry code —
// `--input-type=module` and `-e/--eval/-p/--print CODE` of an ESM one-liner — then apply to the worker too: its
// eval'd CommonJS source is parsed as ESM ("require is not defined") or the one-liner runs again in the worker.
// An explicit `execArgv` has its own trap: Node refuses per-process and V8 flags in it (`--max-old-space-size`,
// `--trace-gc`, `--title`, …) with ERR_WORKER_INVALID_EXEC_ARGV, though a worker that inherits them is fine.
import { Worker, type WorkerOptions } from "node:worker_threads";

/** Flags that take the next argument as their value when not written as `--flag=value`. */
const WITH_VALUE = new Set(["--input-type", "-e", "--eval", "-p", "--print"]);
const DROP = /^(--input-type|--eval|--print)(=|$)|^-(e|p)$/;

/**
 * The parent's `execArgv` without the flags that belong to its entry code, for `new Worker(src, { execArgv })`.
 * Everything else (`--import tsx`, `--conditions`, `--max-old-space-size`, …) is kept; {@link newWorker} also
 * drops the flags a worker refuses.
 */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!DROP.test(a)) {
      out.push(a);
      continue;
    }
    if (WITH_VALUE.has(a)) i++; // skip the flag's value too
  }
  return out;
}

/** Flags a worker refused in this process (asked once, then left out of every later worker's `execArgv`). */
const refused = new Set<string>();

/** The flags named by ERR_WORKER_INVALID_EXEC_ARGV ("… invalid execArgv flags: --a, --b=1"), or undefined. */
function refusedFlags(e: unknown): string[] | undefined {
  if ((e as { code?: unknown } | null)?.code !== "ERR_WORKER_INVALID_EXEC_ARGV") return undefined;
  const list = /flags: (.*)$/s.exec((e as Error).message)?.[1];
  return list?.split(", ").filter(Boolean);
}

/** `argv` without the refused flags (and the value after a refused `--flag value`). */
function withoutRefused(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!refused.has(a)) out.push(a);
    else if (!a.includes("=") && i + 1 < argv.length && !argv[i + 1]!.startsWith("-")) i++;
  }
  return out;
}

/**
 * `new Worker(entry, options)` that starts under any parent command line: without the parent's entry-code flags
 * ({@link workerExecArgv}) and without the flags Node refuses in a worker's `execArgv`. A parent with no
 * entry-code flag leaves `execArgv` unset, so the worker inherits everything as Node does by default.
 */
export function newWorker(entry: string | URL, options: WorkerOptions = {}): Worker {
  const parent = process.execArgv;
  const own = options.execArgv ?? workerExecArgv(parent);
  if (options.execArgv === undefined && own.length === parent.length) return new Worker(entry, options);
  let execArgv = withoutRefused(own);
  for (;;) {
    try {
      return new Worker(entry, { ...options, execArgv });
    } catch (e) {
      const flags = refusedFlags(e);
      if (!flags?.some((f) => execArgv.includes(f))) throw e;
      for (const f of flags) refused.add(f);
      execArgv = withoutRefused(execArgv);
    }
  }
}
