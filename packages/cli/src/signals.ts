import { constants } from "node:os";

export type StopSignal = "SIGINT" | "SIGTERM";

/** The shell's code for a process ended by `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
export const signalExitCode = (signal: StopSignal): number => 128 + constants.signals[signal];

/**
 * The command stopped because it received SIGINT or SIGTERM. Its outputs are not finished (a training job has
 * saved a checkpoint to resume from); the process exits with `exitCode` (130 or 143) so that callers — a shell
 * script, `sfmed pipeline run` — never take the run for a success.
 */
export class InterruptedError extends Error {
  override readonly name = "InterruptedError";
  readonly code = "EINTERRUPTED";
  readonly exitCode: number;
  constructor(
    readonly signal: StopSignal,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.exitCode = signalExitCode(signal);
  }
}

/**
 * Listen for SIGINT and SIGTERM until `dispose()`. `onSignal` gets each signal with how many arrived so far, so a
 * command can stop gracefully on the first and force on the second. `received` is the first signal, if any.
 */
export function watchStopSignals(onSignal: (signal: StopSignal, count: number) => void): { readonly received: StopSignal | undefined; dispose(): void } {
  let count = 0;
  let first: StopSignal | undefined;
  const handlers = (["SIGINT", "SIGTERM"] as const).map((s) => {
    const h = () => {
      first ??= s;
      onSignal(s, ++count);
    };
    process.on(s, h);
    return [s, h] as const;
  });
  return {
    get received() {
      return first;
    },
    dispose: () => {
      for (const [s, h] of handlers) process.off(s, h);
    },
  };
}
