// Sharded dedup (subpath `@sfmed/dedup/sharded`, so that only its users load the Parquet reader and writer).
export { planShards, readPlan, type ShardPlan, type ShardedOptions, type ShardedKeep, type Segment, type InputFile } from "./plan.js";
export { runStage, pendingTasks, concatShardFiles, shardedStatus, writeShardedReport, type RunStageOptions, type RunStageResult, type StageStatus, type ShardedReport } from "./run-stage.js";
export { STAGES, layout, type Stage, type TaskMarker } from "./layout.js";
export type { SourceCounts } from "./filter.js";
