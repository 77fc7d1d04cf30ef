// Worker threads inherit the parent's `execArgv` by default. Flags that describe the parent's own entry code —
// `--input-type=module` and `-e/--eval/-p/--print CODE` of an ESM one-liner — then apply to the worker too: its
// eval'd CommonJS source is parsed as ESM ("require is not defined") or the one-liner runs again in the worker.

/** Flags that take the next argument as their value when not written as `--flag=value`. */
const WITH_VALUE = new Set(["--input-type", "-e", "--eval", "-p", "--print"]);
const DROP = /^(--input-type|--eval|--print)(=|$)|^-(e|p)$/;

/**
 * The parent's `execArgv` without the flags that belong to its entry code, for `new Worker(src, { execArgv })`.
 * Everything else (`--import tsx`, `--conditions`, `--max-old-space-size`, …) is kept.
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
