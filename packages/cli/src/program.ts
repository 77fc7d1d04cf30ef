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

/**
 * Build the `sfmed` program. Each subcommand module registers itself from ./commands/index.ts. Given the command
 * line, only the module that owns its command is loaded (each one imports its library packages, so loading all
 * of them costs a short command most of its start-up time); without one, or for an unknown name, all are.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("sfmed")
    .description("SF-Med toolkit: data, dedup, augmentation, preference selection, training and evaluation for Chinese medical LLMs")
    .version(version(), "-V, --version")
    .option("-q, --quiet", "no progress bars or messages (also off when not a TTY or in CI)")
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ sortSubcommands: false });
  const ctx = (): CliContext => makeContext(Boolean(program.opts().quiet));
  const name = argv.find((a) => !a.startsWith("-"));
  const owner = commands.find((m) => name !== undefined && m.names.includes(name));
  const versionOnly = name === undefined && argv.some((a) => a === "-V" || a === "--version");
  const modules = await Promise.all((owner ? [owner] : versionOnly ? [] : commands).map((m) => m.load()));
  for (const m of modules) m.register(program, ctx);
  return program;
}
