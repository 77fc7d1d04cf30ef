// `@sfmed/schema/io`: the readers, writers and file primitives without zod. Loading zod and building the record
// schemas costs a command ~0.1 s of start-up; code that only moves rows (dedup, metrics, the CLI's read paths)
// imports from here. `readRecords` with a `kind` still validates, loading the schemas on the first record.
// Everything here is also exported from `@sfmed/schema`.
export type { Letter, Role, Meta, Message, Dialogue, TextDoc, PairScores, PreferencePair, ChoiceQuestion, ReferenceQA, Prediction, RecordKind, RecordOf } from "./records.js";
export { RECORD_KINDS, isRecordKind } from "./record-kinds.js";
export { SchemaError, ValidationError, ParseError, isSchemaError, formatLocation, type RecordLocation } from "./errors.js";
export { MissingPeerError, loadPeer, loadPeerSync } from "./missing-peer.js";

export { detectEncoding, decodeText, SNIFF_BYTES, type TextEncoding, type DetectedEncoding } from "./io/encoding.js";
export { readFileBytes, type ByteProgress } from "./io/byte-source.js";
export { readLines, readText, splitLines, type TextLine, type TextReadOptions } from "./io/lines.js";
export { atomicWrite } from "./io/atomic-write.js";
export { newWorker, workerExecArgv } from "./io/worker-exec-argv.js";
export { createWorkerPool, WorkerPoolError, type WorkerPool, type WorkerPoolOptions, type WorkerPoolRunOptions, type WorkerPoolErrorCode } from "./io/worker-pool.js";
/** A tiny WebAssembly assembler for kernels generated at run time (dedup, dpo-merge, eval-metrics). */
export * as wasmAsm from "./wasm/asm.js";
export { tempPathFor, registerTemp, liveTemps, removeTempsNow, sweepStaleTemps, parseTempName, isProcessAlive } from "./io/temp-files.js";
export { checkOutputPaths, resolveRealPath, isInside, isStdio, PathCollisionError } from "./io/output-paths.js";
export { JsonlCheckpoint, CheckpointError, type JsonlCheckpointOptions } from "./io/jsonl-checkpoint.js";
export { seededRandom, splitmix32 } from "./io/seeded-random.js";
export { hashString } from "./io/hash-string.js";
export { forEachConcurrent, mapConcurrent, type ConcurrentOptions } from "./io/concurrent.js";
export { AtomicDir, replaceDir } from "./io/atomic-dir.js";
export { hashFile } from "./io/hash-file.js";
export { AtomicFile } from "./io/atomic-file.js";
export { AtomicPath } from "./io/atomic-path.js";
export { createRejectsFile, InvalidPolicy, type OnInvalid, type Reject, type RejectSink, type RejectsFile } from "./io/rejects.js";
export { isBadRow, type SourceRow, type BadRow, type RowItem } from "./io/rows.js";
export { scanJsonl, writeJsonl, type WriteOptions } from "./io/jsonl.js";
export { splitJsonArray, scanJsonArray, writeJsonArray, type ArrayElement } from "./io/json-array.js";
export { scanCsv, writeCsv, csvCell, type CsvReadOptions } from "./io/csv.js";
export { detectFormat, formatFromName, type FileFormat } from "./io/format.js";
export { readRecords, recordsOnly, scanRows, type ReadOptions, type ReadProgress, type LocatedRecord } from "./io/read-records.js";
export { writeRecords } from "./io/write-records.js";
