import { CommanderError, type Command } from "commander";
import { buildProgram } from "./program.js";
import { maskUrl } from "./flags.js";

/** One line for the user: the error's own message names file, line and field where it can. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const name = err.name && err.name !== "Error" ? `${err.name}: ` : "";
    return maskUrl(`sfmed: ${name}${err.message}`);
  }
  return maskUrl(`sfmed: ${String(err)}`);
}

/** Errors that are the user's mistake on the command line: exit 2. Compared by name across package copies. */
const USAGE_ERRORS = new Set(["UsageError", "PathCollisionError"]);

/**
 * `code`s of the libraries' typed option errors (dedup's, pref-select's and dpo-merge's `BAD_OPTION`, train-runner's
 * LaunchPlanError, instruct-augment's `BAD_OPTIONS`): a value the user passed as a flag, so exit 2 like a
 * UsageError. Commands hand such values to the library unchecked instead of repeating its range checks.
 */
export const OPTION_ERROR_CODES: ReadonlySet<string> = new Set(["BAD_OPTION", "BAD_OPTIONS"]);

/**
 * The one map from an error to an exit code: 2 for usage mistakes (commander's own and the libraries' option
 * errors included), 130/143 for SIGINT/SIGTERM (an error carrying `exitCode`, such as InterruptedError), 1 for
 * everything else.
 */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (!(err instanceof Error)) return 1;
  if (USAGE_ERRORS.has(err.name)) return 2;
  const { code: errorCode } = err as { code?: unknown };
  if (typeof errorCode === "string" && OPTION_ERROR_CODES.has(errorCode)) return 2;
  // An input that is not there or not a regular file is a command-line mistake however deep it is found, so every
  // command answers it alike (2), whether it checked up front or its reader found it.
  const { code: errno, file } = err as { code?: unknown; file?: unknown };
  if (typeof file === "string" && (errno === "ENOENT" || errno === "EISDIR" || errno === "ENOTREG")) return 2;
  const code = (err as { exitCode?: unknown }).exitCode;
  if (err.name === "InterruptedError" && (code === 130 || code === 143)) return code;
  return 1;
}

/** exitOverride on every command: commander would otherwise call process.exit from a subcommand's own errors. */
function throwInsteadOfExit(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) throwInsteadOfExit(sub);
}

/** Run the CLI; resolves to the process exit code. Never calls process.exit itself (bin.ts does). */
export async function runCli(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  throwInsteadOfExit(program);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    // commander has printed its own message (and --help/--version their text) already.
    if (!(err instanceof CommanderError)) {
      process.stderr.write(describeError(err) + "\n");
      if (process.env.SFMED_DEBUG && err instanceof Error && err.stack) process.stderr.write(maskUrl(err.stack) + "\n");
    }
    return exitCodeFor(err);
  }
}
