import { createRequire } from "node:module";
import { Command } from "commander";
import { makeContext, type CliContext } from "./context.js";
import { commands } from "./commands/index.js";

const require = createRequire(import.meta.url);

function version(): string {
  try {
    return (require("../package.json") as { version: string }).version;
  } catch {
    return "0.0.0";
  }
}

/** Build the `sfmed` program. Each subcommand module registers itself from ./commands/index.ts. */
export function buildProgram(): Command {
  const program = new Command("sfmed")
    .description("SF-Med toolkit: data, dedup, augmentation, preference selection, training and evaluation for Chinese medical LLMs")
    .version(version(), "-V, --version")
    .option("-q, --quiet", "no progress bars or messages (also off when not a TTY or in CI)")
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ sortSubcommands: false });
  const ctx = (): CliContext => makeContext(Boolean(program.opts().quiet));
  for (const register of commands) register(program, ctx);
  return program;
}
