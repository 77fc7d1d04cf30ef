export { runJob, resumeJob, type JobLike, type RunJobOptions, type ResumeJobOptions, type JobSummary } from "./run-job.js";
export { findResumeCheckpoint, readEventsFile, type ReadEventsOptions } from "./resume.js";
export { startServer, readLogTail, type StartServerOptions, type TrainerServer } from "./server.js";
export {
  buildLaunchCommand,
  deepspeedZero3Config,
  accelerateConfig,
  slurmScript,
  shellQuote,
  LAUNCHER_KINDS,
  DISTRIBUTED_STRATEGIES,
  type LauncherKind,
  type DistributedStrategy,
  type LaunchOptions,
  type LaunchCommand,
  type SlurmOptions,
} from "./launchers.js";
export {
  runArrayLocal,
  jobArrayScript,
  submitJobArrays,
  submitScript,
  stageScripts,
  writeStageScripts,
  sbatchArgs,
  arraySpec,
  parseJobId,
  JobArrayError,
  type ArrayJob,
  type SlurmArrayOptions,
  type LocalArrayOptions,
  type StageScripts,
} from "./job-array.js";
export { planLaunch, writeLaunchFiles, type PlanLaunchOptions, type LaunchPlan, type LaunchFile } from "./launch-plan.js";
export { parseEventLine, isKnownEvent, isEvent, LineSplitter } from "./events.js";
export type {
  TrainerEvent,
  KnownEvent,
  KnownEventName,
  OtherEvent,
  BaseEvent,
  StartEvent,
  StepEvent,
  EvalEvent,
  CheckpointEvent,
  DoneEvent,
  ErrorEvent,
  ReadyEvent,
} from "./events.js";
export { TrainerEnvError, JobValidationError, JobConfigError, TrainerRunError, ServerStartError, LaunchPlanError } from "./errors.js";
export { ensureTrainerEnv, findPython, trainerDir, trainerPythonEnv, type TrainerEnv, type PythonInfo } from "./trainer-env.js";
export {
  ptJob,
  sftJob,
  rmJob,
  rmScoreJob,
  dpoJob,
  validateJob,
  loadJobFile,
  resolveJobPaths,
  jobSchemaPath,
  PAPER_DEFAULTS,
  type TrainerJob,
  type TrainOptions,
  type OptimizerOptions,
  type OnlineMergeParams,
  type ValidateJobOptions,
} from "./jobs.js";
export {
  ALPHA_STEPS_WARN,
  ALPHA_STEPS_MAX,
  OFFICIAL_ONLINE_MERGE,
  plannedOptimizerSteps,
  checkMergeAlpha,
  checkJobPlan,
  countJsonlRows,
  type JobWarning,
  type StepPlanContext,
} from "./merge-guard.js";
export { createTinyModel, type TinyModelOptions } from "./tiny-model.js";
