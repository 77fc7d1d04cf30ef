// What the `sfmed pref` subcommands share: model flags (NAME or NAME@URL), side files beside the output.
import { createOpenAIModel } from "@sfmed/llm";
import { writeJsonl } from "@sfmed/schema";
import type { Command } from "commander";
import { UsageError } from "../context.js";
import { intFlag } from "../flags.js";
import { digestInputs, writeStageReport } from "../stage-report.js";

export interface ModelFlags {
  baseUrl?: string;
  apiKeyEnv: string;
  cacheDir?: string;
  timeout?: string;
}

/** `NAME` (served at --base-url) or `NAME@URL`, as an OpenAI-compatible model. */
export function modelFrom(spec: string, o: ModelFlags, flag: string) {
  const at = spec.lastIndexOf("@");
  const name = at > 0 ? spec.slice(0, at) : spec;
  const baseURL = at > 0 ? spec.slice(at + 1) : o.baseUrl;
  if (!name || !baseURL) throw new UsageError(`--${flag} "${spec}" needs a server: write NAME@URL or pass --base-url`);
  const timeoutS = intFlag("timeout", o.timeout, { min: 1 });
  return createOpenAIModel({
    baseURL,
    model: name,
    apiKey: process.env[o.apiKeyEnv] ?? "EMPTY",
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    ...(timeoutS ? { timeoutMs: timeoutS * 1000 } : {}),
  });
}

export function commonModelOptions(cmd: Command): Command {
  return cmd
    .option("--base-url <url>", "OpenAI-compatible server (with /v1) for models given without @URL")
    .option("--api-key-env <name>", "environment variable holding the API key", "OPENAI_API_KEY")
    .option("--cache-dir <dir>", "on-disk response cache")
    .option("--timeout <seconds>", "per-request timeout");
}

/** A file beside the output: `pairs.jsonl` → `pairs.<suffix>`. */
export const side = (out: string, suffix: string) => `${out.replace(/\.jsonl(\.gz)?$/, "")}.${suffix}`;

/** Write the rejected rows beside the output when there are any; returns the file written. */
export async function writeRejects(out: string, rows: readonly unknown[]): Promise<string | undefined> {
  if (!rows.length) return undefined;
  const file = side(out, "rejects.jsonl");
  await writeJsonl(file, rows);
  return file;
}

/** The stage report, with the input also under `input` (pref reports have one input, read there by earlier users). */
export async function writeReport(file: string, command: string, input: string, started: number, fields: Record<string, unknown>): Promise<void> {
  const [digest] = await digestInputs([input]);
  await writeStageReport(file, { command, inputs: [digest!], started, fields: { input: digest, ...fields } });
}
