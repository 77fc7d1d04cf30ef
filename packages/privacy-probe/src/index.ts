export { PrivacyProbeError, type InputLocation } from "./errors.js";

export { PII_KINDS, type PiiKind, type PiiMatch, type PiiDetector } from "./pii/pii-types.js";
export { residentIdCheckChar, isValidResidentId, looksLikeResidentId, residentIdDetector, type ResidentIdOptions } from "./pii/resident-id.js";
export { isMobileNumber, mobileNumberDetector } from "./pii/mobile-number.js";
export { isLandlineNumber, landlineNumberDetector } from "./pii/landline-number.js";
export { isEmailAddress, emailAddressDetector } from "./pii/email-address.js";
export { luhnValid, luhnCheckDigit, plausibleCardPrefix, bankCardDetector } from "./pii/bank-card.js";
export { scanPii, defaultDetectors, type ScanPiiOptions } from "./pii/scan-pii.js";
export { redactPii, replacementFor, normalizePiiValue, PII_TAGS, type RedactionMode, type RedactOptions, type RedactResult } from "./pii/redact-pii.js";
export {
  scanPiiFile,
  redactPiiFile,
  piiFormatOf,
  PII_SCAN_LIMITS,
  type PiiFileFormat,
  type PiiFinding,
  type PiiFileProgress,
  type PiiFileReport,
  type ScanPiiFileOptions,
  type RedactPiiFileOptions,
  type RedactPiiFileReport,
} from "./pii/pii-file.js";

export { charTokenizer, echoTokenizer, type TextTokenizer } from "./memorization/tokenizer.js";
export { splitText, kExtractableSplit, type SplitSpec, type SplitOptions, type SplitText } from "./memorization/split-sample.js";
export {
  toProbeSample,
  readProbeSamples,
  chatmlPrompt,
  type ProbeSample,
  type ChatTurn,
  type PromptRenderer,
  type ToProbeSampleOptions,
  type ReadProbeSamplesOptions,
} from "./memorization/probe-sample.js";
export { membershipScores, rocAuc, type MembershipScores, type MembershipOptions } from "./memorization/membership-scores.js";
export { emptyHistogram, addToHistogram, type Histogram } from "./memorization/score-histogram.js";
export { readCheckpoint } from "./memorization/probe-checkpoint.js";
export { aboveThreshold, SCORE_EPSILON } from "./memorization/threshold.js";
export {
  probeMemorization,
  probeSample,
  type ProbeMemorizationOptions,
  type ProbeResult,
  type ProbeProgress,
  type MemorizationReport,
  type MembershipSource,
  type MembershipSummary,
} from "./memorization/probe-memorization.js";
/** Re-exported from @sfmed/schema, where the one bounded-concurrency loop lives. */
export { forEachConcurrent, type ConcurrentOptions } from "@sfmed/schema";

export { type VectorIndex, type SearchHit, similarityFromDistance } from "./embedding/vector-index.js";
export { cosineScan, l2Norm, normalized } from "./embedding/cosine-scan.js";
export { ExactCosineIndex } from "./embedding/exact-cosine-index.js";
export { writeVectorFile, readVectorFile, VECTOR_FILE_MAGIC, type VectorFileHeader, type MatrixSpec } from "./embedding/vector-file.js";
export { saveHighRiskDb, loadHighRiskDb, checkHighRiskDb, type HighRiskDb, type HighRiskDbMeta } from "./embedding/high-risk-db.js";
export { buildHighRiskDb, type BuildHighRiskDbOptions, type HighRiskSample, type ReplacementSource } from "./embedding/build-high-risk-db.js";

export { gateFileFromDb, writeGateFile, readGateFile, validateGateFile, type GateFile, type GateFileOptions } from "./gate/gate-file.js";
export { applyGate, gateDecision, meanPool, type GateDecision } from "./gate/apply-gate.js";
export { evaluateGate, type EvaluateGateOptions, type GateEvaluation, type HeldOutPrompt } from "./gate/evaluate-gate.js";
export type { GateQaSet, GateQaOptions, GateQaItem, GateQaSetResult, GateQaEvaluation } from "./gate/gate-qa.js";
export { renderGateMarkdown } from "./gate/gate-report.js";
