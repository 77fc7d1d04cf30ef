import { ensureTrainerEnv, startServer, trainerPythonEnv } from "@sfmed/train-runner";
import type { RunningService } from "./run-pipeline.js";

/**
 * Start a pipeline service. Today one kind: `serve CHECKPOINT [--gate FILE] [--port N]`, a trainer-py model
 * server whose OpenAI-compatible base URL later stages read as `${id.url}`.
 */
export async function startPipelineService(argv: string[], log: (line: string) => void = () => {}): Promise<RunningService> {
  const [kind, checkpoint, ...rest] = argv;
  if (kind !== "serve" || !checkpoint) throw new Error(`unknown service "${argv.join(" ")}" (expected: serve CHECKPOINT [--gate FILE])`);
  const gateAt = rest.indexOf("--gate");
  const env = await ensureTrainerEnv({ onLog: log });
  const server = await startServer(checkpoint, {
    python: env.python,
    env: trainerPythonEnv(env),
    ...(gateAt >= 0 && rest[gateAt + 1] ? { gate: rest[gateAt + 1]! } : {}),
  });
  return { url: server.baseURL, close: server.close };
}
