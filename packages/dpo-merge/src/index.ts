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
export type { SafetensorsErrorCode } from "./errors.js";
export { parseHeader, readHeaderSize, MAX_HEADER_SIZE } from "./safetensors-header.js";
export type { TensorInfo, SafetensorsHeader, ParseHeaderOptions } from "./safetensors-header.js";
export { SafetensorsFile } from "./safetensors-reader.js";
export { SafetensorsWriter, writeSafetensors, planLayout } from "./safetensors-writer.js";
export type { TensorSpec, TensorData, SafetensorsWriterOptions } from "./safetensors-writer.js";
export { Checkpoint, CheckpointWriter, INDEX_FILE, SINGLE_FILE } from "./checkpoint.js";
export type { CheckpointWriterOptions } from "./checkpoint.js";
