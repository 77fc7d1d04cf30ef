import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ServerStartError } from "./errors.js";
import type { ReadyEvent, TrainerEvent } from "./events.js";
import { spawnTrainer } from "./trainer-process.js";

export interface StartServerOptions {
  /** Python of the trainer environment. */
  python: string;
  /** @default "127.0.0.1" (loopback only) */
  host?: string;
  /** 0 lets the OS pick a free port. @default 0 */
  port?: number;
  /** An embedding-gate file (see @sfmed/privacy-probe). */
  gate?: string;
  /** Extra `serve` flags, e.g. `["--max-queue", "8"]`. */
  extraArgs?: string[];
  /** Bearer key the server requires; it reaches serve through `SFMED_SERVE_API_KEY`, never its command line. */
  apiKey?: string;
  /** Aborting before the server is ready stops it and rejects with a ServerStartError. */
  signal?: AbortSignal;
  env?: Record<string, string>;
  /** @default 300000 (model loading can be slow) */
  readyTimeoutMs?: number;
  /** Where the server's log goes. @default a temp file */
  logPath?: string;
  onEvent?: (e: TrainerEvent) => void;
}

export interface TrainerServer {
  /** OpenAI-compatible base URL, ending in `/v1`. */
  baseURL: string;
  /** The server root URL. */
  url: string;
  logPath: string;
  /** Stop the server (SIGTERM, then SIGKILL after 10 s). */
  close(): Promise<void>;
  /** Settles when the server process has ended, by close() or on its own (a crash), with its log flushed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The last `lines` non-empty lines of a server or trainer log ([] when it cannot be read). */
export async function readLogTail(logPath: string, lines = 20): Promise<string[]> {
  const text = await readFile(logPath, "utf8").catch(() => "");
  return text.split("\n").filter((l) => l.trim()).slice(-lines);
}

/**
 * Start `python -m sfmed_trainer serve CHECKPOINT`, wait for its `ready` event, check `/v1/models`, and return its
 * address. The server is killed if the Node process exits.
 * @throws ServerStartError when it exits or does not become ready in time.
 */
export async function startServer(checkpoint: string, opts: StartServerOptions): Promise<TrainerServer> {
  const logPath = opts.logPath ?? path.join(await mkdtemp(path.join(tmpdir(), "sfmed-serve-")), "serve.log");
  const args = [
    "-m", "sfmed_trainer", "serve", checkpoint,
    "--host", opts.host ?? "127.0.0.1",
    "--port", String(opts.port ?? 0),
    ...(opts.gate ? ["--gate", opts.gate] : []),
    ...(opts.extraArgs ?? []),
  ];
  let onReady: (url: string) => void = () => {};
  const ready = new Promise<string>((resolve) => (onReady = resolve));
  const proc = spawnTrainer({
    command: opts.python,
    args,
    env: { PYTHONUNBUFFERED: "1", ...opts.env, ...(opts.apiKey ? { SFMED_SERVE_API_KEY: opts.apiKey } : {}) },
    logPath,
    onEvent: (e) => {
      if (e.event === "ready" && typeof (e as ReadyEvent).url === "string") onReady((e as ReadyEvent).url);
      opts.onEvent?.(e);
    },
  });
  const close = async () => {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    proc.child.kill("SIGTERM");
    const t = setTimeout(() => proc.child.kill("SIGKILL"), 10_000);
    await proc.exited.catch(() => undefined);
    clearTimeout(t);
  };
  const timeoutMs = opts.readyTimeoutMs ?? 300_000;
  let timer: NodeJS.Timeout | undefined;
  let onAbort = () => {};
  const aborted = new Promise<{ aborted: true }>((resolve) => {
    onAbort = () => resolve({ aborted: true });
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
  const exited = proc.exited.then(
    (x) => x,
    () => ({ code: null, signal: null }),
  );
  const outcome = await Promise.race([
    aborted,
    ready.then((url) => ({ url })),
    proc.exited.then(
      (x) => ({ exited: `exited with ${x.signal ? `signal ${x.signal}` : `code ${x.code}`}` }),
      (err: unknown) => ({ exited: `could not start: ${String(err)}` }),
    ),
    new Promise<{ timeout: true }>((resolve) => (timer = setTimeout(() => resolve({ timeout: true }), timeoutMs))),
  ]);
  clearTimeout(timer);
  opts.signal?.removeEventListener("abort", onAbort);
  if (!("url" in outcome)) {
    await close();
    const why = "exited" in outcome ? `serve ${outcome.exited} before it was ready` : "aborted" in outcome ? "serve was stopped before it was ready" : `serve was not ready after ${timeoutMs} ms`;
    throw new ServerStartError(why, logPath, await readLogTail(logPath));
  }
  const url = outcome.url.replace(/\/+$/, "");
  const headers: Record<string, string> = opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {};
  const res = await fetch(`${url}/v1/models`, { headers }).catch((err: unknown) => err as Error);
  if (res instanceof Error || !res.ok) {
    await close();
    throw new ServerStartError(`serve said it was ready at ${url} but /v1/models failed: ${res instanceof Error ? res.message : res.status}`, logPath, await readLogTail(logPath));
  }
  return { baseURL: `${url}/v1`, url, logPath, close, exited };
}
