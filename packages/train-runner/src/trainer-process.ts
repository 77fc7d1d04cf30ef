import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { LineSplitter, parseEventLine, type TrainerEvent } from "./events.js";

export interface SpawnedTrainer {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) once stdout, stderr and the log are flushed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Children must not outlive the Node process (a server left behind holds a port and GPU memory). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of live) c.kill("SIGTERM");
  });
}

/**
 * Spawn a trainer process without a shell: stdout is parsed as JSON-lines events, stderr (human logs) goes to
 * `logPath`, non-event stdout lines go there too so nothing is lost.
 */
export function spawnTrainer(opts: {
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  logPath: string;
  onEvent: (e: TrainerEvent) => void;
}): SpawnedTrainer {
  installExitHook();
  const log: WriteStream = createWriteStream(opts.logPath, { flags: "a" });
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  const out = new LineSplitter();
  const handle = (line: string) => {
    const ev = parseEventLine(line);
    if (ev) opts.onEvent(ev);
    else if (line.trim()) log.write(`[stdout] ${line}\n`);
  };
  child.stdout!.on("data", (c: Buffer) => out.push(c).forEach(handle));
  child.stderr!.on("data", (c: Buffer) => log.write(c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", (err) => {
      live.delete(child);
      log.end(() => reject(err));
    });
    child.once("close", (code, signal) => {
      live.delete(child);
      out.flush().forEach(handle);
      log.end(() => resolve({ code, signal }));
    });
  });
  return { child, exited };
}
