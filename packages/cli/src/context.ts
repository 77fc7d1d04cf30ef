/** What every subcommand gets: where to write messages, and whether to stay quiet. */
export interface CliContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  /** Print a human message to stderr unless quiet. */
  info(message: string): void;
  quiet: boolean;
}

export function makeContext(quiet: boolean): CliContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    quiet,
    info(message) {
      if (!quiet) process.stderr.write(message + "\n");
    },
  };
}

/** A usage mistake by the user (bad flag combination); exits with code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
