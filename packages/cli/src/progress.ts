import { createRequire } from "node:module";
import type CliProgress from "cli-progress";

// cli-progress (~17 ms to load) is required only when a bar is drawn: quiet runs, pipes and CI never load it.
const require = createRequire(import.meta.url);

export interface ProgressOptions {
  /** Label shown before the bar. */
  label: string;
  /** Total units, when known (enables percentage and ETA). */
  total?: number | undefined;
  /** Unit name for the rate, e.g. "rec", "step". @default "it" */
  unit?: string;
  quiet?: boolean | undefined;
  /** Stream to draw on. @default process.stderr */
  stream?: NodeJS.WriteStream;
}

export interface Progress {
  /** Set the absolute count, with optional extra fields shown after the bar (e.g. `{ loss: "1.23" }`). */
  update(count: number, extra?: Record<string, string | number>): void;
  setTotal(total: number): void;
  stop(): void;
  readonly active: boolean;
}

/** True when a progress bar should be drawn: a TTY, not CI, not quiet. */
export function progressEnabled(quiet: boolean | undefined, stream: NodeJS.WriteStream = process.stderr): boolean {
  return !quiet && Boolean(stream.isTTY) && !process.env.CI;
}

const noop: Progress = { update() {}, setTotal() {}, stop() {}, active: false };

/**
 * A progress bar with count, rate and ETA on a TTY; a no-op when quiet, in CI or when stderr is not a TTY.
 * Libraries report progress through callbacks; only the CLI draws.
 */
export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  if (!progressEnabled(opts.quiet, stream)) return noop;
  const unit = opts.unit ?? "it";
  const started = Date.now();
  let extraText = "";
  const known = opts.total !== undefined && opts.total > 0;
  const cliProgress = require("cli-progress") as typeof CliProgress;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: known
        ? `${opts.label} [{bar}] {percentage}% {value}/{total} {rate} ETA {eta_formatted}{extra}`
        : `${opts.label} {value} {rate}{extra}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(known ? opts.total! : 0, 0, { rate: "", extra: "" });
  let active = true;
  return {
    get active() {
      return active;
    },
    update(count, extra) {
      if (extra) extraText = " " + Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(" ");
      const secs = (Date.now() - started) / 1000;
      const rate = secs > 0 ? `${(count / secs).toFixed(count / secs >= 100 ? 0 : 1)} ${unit}/s` : "";
      bar.update(count, { rate, extra: extraText });
    },
    setTotal(total) {
      bar.setTotal(total);
    },
    stop() {
      if (!active) return;
      active = false;
      bar.stop();
    },
  };
}
