import { ensureTrainerEnv, startServer, trainerPythonEnv } from "@sfmed/train-runner";
import type { RunningService } from "./run-pipeline.js";

/**
 * Start a pipeline service. Today one kind: `serve CHECKPOINT [--name NAME] [--gate FILE]`, a trainer-py model
 * server whose OpenAI-compatible base URL later stages read as `${id.url}`.
 */
export async function startPipelineService(argv: string[], log: (line: string) => void = () => {}): Promise<RunningService> {
  const [kind, checkpoint, ...rest] = argv;
  if (kind !== "serve" || !checkpoint) throw new Error(`unknown service "${argv.join(" ")}" (expected: serve CHECKPOINT [--name NAME] [--gate FILE])`);
  const flag = (f: string) => {
    const i = rest.indexOf(f);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const gate = flag("--gate");
  const name = flag("--name");
  const env = await ensureTrainerEnv({ onLog: log });
  const server = await startServer(checkpoint, {
    python: env.python,
    env: trainerPythonEnv(env),
    ...(gate ? { gate } : {}),
    ...(name ? { extraArgs: ["--name", name] } : {}),
  });
  return { url: server.baseURL, close: server.close };
}
