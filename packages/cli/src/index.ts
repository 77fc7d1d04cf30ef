export { runCli, describeError } from "./run.js";
export { buildProgram } from "./program.js";
export { createProgress, progressEnabled, type Progress, type ProgressOptions } from "./progress.js";
export { UsageError, type CliContext } from "./context.js";
