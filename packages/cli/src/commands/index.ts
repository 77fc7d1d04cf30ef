import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { register as applyInstructions } from "./apply-instructions.js";
import { register as augment } from "./augment.js";
import { register as convert } from "./convert.js";
import { register as dedup } from "./dedup.js";
import { register as evaluate } from "./eval.js";
import { register as generate } from "./generate.js";
import { register as pipeline } from "./pipeline.js";
import { register as pref } from "./pref.js";
import { register as stats } from "./stats.js";
import { register as train } from "./train.js";
import { register as validate } from "./validate.js";
import { register as merge } from "./merge.js";
import { register as probe } from "./probe.js";
import { register as pii } from "./pii.js";

/** A subcommand module: adds its command(s) to the program. Keep them thin: parse → library → render. */
export type Register = (program: Command, ctx: () => CliContext) => void;

// One line per subcommand module, in the order `sfmed --help` lists them.
export const commands: Register[] = [
  convert,
  validate,
  stats,
  dedup,
  augment,
  applyInstructions,
  train,
  generate,
  merge,
  pref,
  evaluate,
  probe,
  pii,
  pipeline,
];
