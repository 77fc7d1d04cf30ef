import { ensureTrainerEnv, readLogTail, ServerStartError, startServer, trainerPythonEnv } from "@sfmed/train-runner";
import type { CliContext } from "../context.js";
import { intFlag, numberFlag } from "../flags.js";
import { InterruptedError, watchStopSignals } from "../signals.js";
import { resolveModelArg } from "./hub-inputs.js";
import type { Register } from "./index.js";

type ServeFlags = { host: string; port: string; gate?: string; apiKey?: string; maxBodyBytes?: string; maxQueue?: string; maxQueueWait?: string; python?: string };

/** serve's own limit flags, checked here so a typo is exit 2 before Python starts. */
function limitArgs(o: ServeFlags): string[] {
  const args: string[] = [];
  const maxBody = intFlag("max-body-bytes", o.maxBodyBytes, { min: 1 });
  const maxQueue = intFlag("max-queue", o.maxQueue, { min: 0 });
  const wait = numberFlag("max-queue-wait", o.maxQueueWait, { min: 0, minExclusive: true });
  if (maxBody !== undefined) args.push("--max-body-bytes", String(maxBody));
  if (maxQueue !== undefined) args.push("--max-queue", String(maxQueue));
  if (wait !== undefined) args.push("--max-queue-wait", String(wait));
  return args;
}

/** Start the server and wait until it ends; SIGINT/SIGTERM stop it (also while the model loads) → 130/143. */
async function serveUntilStopped(c: CliContext, checkpointArg: string, o: ServeFlags): Promise<never> {
  const extraArgs = limitArgs(o);
  const port = intFlag("port", o.port, { min: 0, max: 65535 });
  const checkpoint = await resolveModelArg(checkpointArg, c.quiet);
  const apiKey = o.apiKey ?? process.env.SFMED_SERVE_API_KEY;
  const env = await ensureTrainerEnv({ ...(o.python ? { python: o.python } : {}), onLog: (l) => c.info(l) });
  const ac = new AbortController();
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  const stop = watchStopSignals((sig, count) => {
    if (count === 1) c.info(`stopping the server (${sig})`);
    ac.abort();
    void server?.close();
  });
  try {
    try {
      server = await startServer(checkpoint, { python: env.python, env: trainerPythonEnv(env), host: o.host, port, extraArgs, signal: ac.signal, ...(o.gate ? { gate: o.gate } : {}), ...(apiKey ? { apiKey } : {}) });
    } catch (err) {
      if (stop.received) throw new InterruptedError(stop.received, `serve stopped by ${stop.received} before it was ready`, { cause: err });
      throw err;
    }
    if (stop.received) void server.close(); // a signal during the /v1/models check
    else {
      c.stdout.write(JSON.stringify({ event: "ready", baseURL: server.baseURL }) + "\n");
      c.info(`serving ${checkpoint} at ${server.baseURL} (Ctrl-C to stop; log ${server.logPath})`);
    }
    const x = await server.exited;
    if (stop.received) throw new InterruptedError(stop.received, `serve stopped by ${stop.received}`);
    const how = x.signal ? `was killed by ${x.signal}` : `exited with code ${x.code}`;
    throw new ServerStartError(`serve ${how} while serving`, server.logPath, await readLogTail(server.logPath));
  } finally {
    stop.dispose();
  }
}

export const register: Register = (program, ctx) => {
  program
    .command("serve")
    .description("serve a checkpoint over an OpenAI-compatible HTTP API (trainer-py serve; limits in docs/serve.md)")
    .argument("<checkpoint>", "checkpoint folder or Hub model id ORG/NAME[@REV]")
    .option("--host <host>", "bind address (loopback by default; another address without --api-key is warned about)", "127.0.0.1")
    .option("--port <port>", "port (0 = any free port)", "0")
    .option("--gate <file>", "embedding-gate file from `sfmed probe build-gate`")
    .option("--api-key <key>", "require Authorization: Bearer KEY (default: $SFMED_SERVE_API_KEY; handed to the server through its environment)")
    .option("--max-body-bytes <n>", "largest request body; 413 beyond (server default 8 MiB)")
    .option("--max-queue <n>", "requests waiting for the model; 503 + Retry-After beyond (server default 32)")
    .option("--max-queue-wait <seconds>", "longest wait for the model before a 503 (server default 60)")
    .option("--python <path>", "base Python for the trainer environment")
    .action((checkpoint: string, o: ServeFlags) => serveUntilStopped(ctx(), checkpoint, o));
};
