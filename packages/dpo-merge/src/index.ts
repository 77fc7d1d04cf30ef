export {
  DTYPE_BITS,
  BF16_NAN,
  F16_NAN,
  isDtype,
  isFloatDtype,
  f32BitsToBf16,
  f32ToBf16,
  bf16ToF32,
  f32BitsToF16,
  f16BitsToF32,
  f32ToF16,
  f16ToF32,
  decodeToF32,
  encodeFromF32,
} from "./dtype.js";
export type { Dtype, FloatDtype } from "./dtype.js";
export { SafetensorsError, MergeInputError } from "./errors.js";
export type { MergeInputErrorCode, SafetensorsErrorCode } from "./errors.js";
export { parseHeader, readHeaderSize, MAX_HEADER_SIZE } from "./safetensors-header.js";
export type { TensorInfo, SafetensorsHeader, ParseHeaderOptions } from "./safetensors-header.js";
export { SafetensorsFile } from "./safetensors-reader.js";
export { SafetensorsWriter, writeSafetensors, planLayout } from "./safetensors-writer.js";
export type { TensorSpec, TensorData, SafetensorsWriterOptions } from "./safetensors-writer.js";
export { Checkpoint, CheckpointWriter, INDEX_FILE, SINGLE_FILE } from "./checkpoint.js";
export type { CheckpointWriterOptions } from "./checkpoint.js";
export { seededRng } from "./seeded-rng.js";
export type { Rng } from "./seeded-rng.js";
export { bernoulliMask, applyMask, dare, topKMask, magnitudePrune } from "./sparsify.js";
export type { RescaleMode } from "./sparsify.js";
export { taskVector, mergeTaskVectors, mixChunk, deltaScale, tiesMerge, linearMerge } from "./task-arithmetic.js";
export type { Sparsification, TaskArithmeticOptions, MixChunkOptions, DeltaScale } from "./task-arithmetic.js";
export { slerp, slerpCoefficients, slerpSums, slerpApply } from "./slerp.js";
export { TopKCut } from "./streaming-top-k.js";
export { mergeCheckpoints, MERGE_METHODS } from "./merge-checkpoints.js";
export type { MergeMethod, MergeProgress, MergeCheckpointsOptions, MergeReport } from "./merge-checkpoints.js";
export { onlineMergeStep, prepareTau } from "./online-merge-step.js";
export type { OnlineMergeMethod, OnlineMergeStepOptions } from "./online-merge-step.js";
export { dpoLoss, logSigmoid, softplus } from "./dpo-loss.js";
export type { DpoLossType, DpoLossOptions, DpoLossResult } from "./dpo-loss.js";
