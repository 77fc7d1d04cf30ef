export * from "./records.js";
export { RECORD_KINDS, isRecordKind } from "./record-kinds.js";
export { SchemaError, ValidationError, ParseError, isSchemaError, formatLocation, type RecordLocation } from "./errors.js";
export { validateWith, validateRecord, formatPath } from "./validate.js";
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

export {
  defineConverter,
  inputFiles,
  fileStem,
  type Converter,
  type ConverterSpec,
  type ConvertOptions,
  type ConvertProgress,
  type RowContext,
  type TaggedRow,
} from "./convert/converter.js";
export { converters, getConverter, canonicalConverter, exporters, getExporter, exportRecords, toReferenceQA, toTextDoc, type ConverterName, type ExporterName, type Exporter } from "./convert/registry.js";
export { alpaca, toAlpaca, alpacaMessages, alpacaPrompt, ExportError, ALPACA_COLUMNS, type AlpacaRow, type AlpacaColumns } from "./convert/alpaca.js";
export { sharegpt, toShareGpt, shareGptMessages, SHAREGPT_TAGS, type ShareGptRow, type ShareGptTurn, type ShareGptTags } from "./convert/sharegpt.js";
export { llamaFactory, llamaFactoryPlan, type DatasetInfoEntry } from "./convert/llama-factory.js";
export { huatuo26m } from "./convert/huatuo26m.js";
export { cmtmedqa } from "./convert/cmtmedqa.js";
export { toyhom, scanToyhomBlocks, toyhomQuestion } from "./convert/toyhom.js";
export { cmexam } from "./convert/cmexam.js";
export { cmmlu } from "./convert/cmmlu.js";
export { ceval } from "./convert/ceval.js";
export { medicalgptReward } from "./convert/medicalgpt-reward.js";
export { cmbClin } from "./convert/cmb-clin.js";
export { cmbExam } from "./convert/cmb-exam.js";
export { webmedqa, WEBMEDQA_COLUMNS } from "./convert/webmedqa.js";
export { pharmacistExam, PHARMACIST_EXAM_FIELDS } from "./convert/pharmacist-exam.js";
export { CEVAL_MEDICAL_SUBJECTS, CMMLU_MEDICAL_SUBJECTS, CMB_NON_MEDICAL_CLASSES } from "./convert/medical-subjects.js";
export { parseAnswer, parseAnswerValue, parseOptionList, parseOptions } from "./convert/choice-helpers.js";
export { collectStats, StatsCollector, detectKind, percentile, summarize, type RecordStats, type LengthSummary } from "./record-stats.js";
