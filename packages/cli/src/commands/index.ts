import type { Command } from "commander";
import type { CliContext } from "../context.js";

/** A subcommand module: adds its command(s) to the program. Keep them thin: parse → library → render. */
export type Register = (program: Command, ctx: () => CliContext) => void;

/** A subcommand module, loaded only when its commands are needed (each pulls in its library packages). */
export interface CommandModule {
  /** The top-level command names the module registers. */
  names: readonly string[];
  load: () => Promise<{ register: Register }>;
}

// One entry per subcommand module, in the order `sfmed --help` lists them.
export const commands: readonly CommandModule[] = [
  { names: ["convert"], load: () => import("./convert.js") },
  { names: ["validate"], load: () => import("./validate.js") },
  { names: ["stats"], load: () => import("./stats.js") },
  { names: ["sample"], load: () => import("./sample.js") },
  {
    names: ["dedup"],
    // the one-machine command, then its sharded subcommands (plan, run-stage, run, status) hooked under it
    load: async () => {
      const [one, sharded] = await Promise.all([import("./dedup.js"), import("./dedup-sharded.js")]);
      return { register: (program, ctx) => (one.register(program, ctx), sharded.register(program, ctx)) };
    },
  },
  { names: ["augment"], load: () => import("./augment.js") },
  { names: ["apply-instructions"], load: () => import("./apply-instructions.js") },
  { names: ["train"], load: () => import("./train.js") },
  { names: ["serve"], load: () => import("./serve.js") },
  { names: ["generate"], load: () => import("./generate.js") },
  { names: ["merge"], load: () => import("./merge.js") },
  { names: ["pref"], load: () => import("./pref.js") },
  { names: ["eval"], load: () => import("./eval.js") },
  { names: ["probe"], load: () => import("./probe.js") },
  { names: ["pii"], load: () => import("./pii.js") },
  { names: ["pipeline"], load: () => import("./pipeline.js") },
  { names: ["push"], load: () => import("./push.js") },
];
