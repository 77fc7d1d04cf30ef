import { CommanderError } from "commander";
import { buildProgram } from "./program.js";

/** One line for the user: the error's own message names file, line and field where it can. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const name = err.name && err.name !== "Error" ? `${err.name}: ` : "";
    return `sfmed: ${name}${err.message}`;
  }
  return `sfmed: ${String(err)}`;
}

/** Run the CLI; resolves to the process exit code. Never calls process.exit itself (bin.ts does). */
export async function runCli(argv: string[]): Promise<number> {
  const program = (await buildProgram(argv)).exitOverride();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version arrive here too, with exit code 0.
      return err.exitCode;
    }
    process.stderr.write(describeError(err) + "\n");
    if (process.env.SFMED_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
    return err instanceof Error && err.name === "UsageError" ? 2 : 1;
  }
}
