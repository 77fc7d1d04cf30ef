// The pipeline's typed errors: a stage that failed, and an output layout it refuses.

/**
 * A stage failed; earlier stages' outputs are intact and re-running resumes from the failed stage (a training
 * stage from its newest checkpoint).
 */
export class PipelineStageError extends Error {
  override readonly name = "PipelineStageError";
  constructor(
    readonly stage: string,
    reason: string,
    readonly pipelineFile: string,
    resumable = false,
  ) {
    super(`stage "${stage}" failed: ${reason}. Finished stages are kept; fix the cause and run \`sfmed pipeline run ${pipelineFile}\` again to resume from "${stage}"${resumable ? " (training continues from its newest checkpoint)" : ""}.`);
  }
}

/**
 * The pipeline will not write where it would destroy or mix up something it did not make: a stage folder (or a
 * report file) that exists without the pipeline's marker, or an `out:` folder that holds the pipeline's inputs or
 * lies inside one. `folder` is the path at stake.
 */
export class PipelineOutputError extends Error {
  override readonly name = "PipelineOutputError";
  constructor(
    readonly code: "not_ours" | "other_stage" | "input_in_out" | "out_in_input" | "stale_checkpoints" | "locked",
    readonly folder: string,
    message: string,
    readonly stage?: string,
  ) {
    super(message);
  }
}
