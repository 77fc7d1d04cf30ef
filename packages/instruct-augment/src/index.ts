export { augmentInstructions, seedsForFullHistory } from "./augment-instructions.js";
export type {
  AugmentOptions,
  AugmentResult,
  AugmentReport,
  AugmentState,
  AugmentProgress,
  AugmentBudget,
  StopReason,
} from "./augment-instructions.js";
export { loadCheckpoint, acceptedLogPath } from "./augment-checkpoint.js";
export type { AcceptedInstruction, AugmentUsage, CheckpointSnapshot } from "./augment-checkpoint.js";
export { splitSeeds, sampleStep, returnAccepted, retain, retainBanks, maybeSwap } from "./question-answer-banks.js";
export type { Banks, StepSample } from "./question-answer-banks.js";
export { buildHistoryPrompt, defaultTemplates, DEFAULT_TEMPLATES, DEFAULT_TEMPLATES_EN, PROMPT_LAYOUTS, INSTRUCTION_LANGUAGES } from "./history-prompt.js";
export type { PromptTemplates, BuildPromptOptions, PromptLayout, InstructionLanguage } from "./history-prompt.js";
export { splitCandidates } from "./split-candidates.js";
export type { SplitOptions } from "./split-candidates.js";
export { checkCandidate, checkForm, maxRougeLAgainst, resolveFilter, noveltyRouge, DEFAULT_FILTER, DEFAULT_FILTER_EN, REJECT_REASONS } from "./quality-filter.js";
export type { FilterOptions, ResolvedFilter, FilterContext, Verdict, RejectReason } from "./quality-filter.js";
export { MedicalLexicon, parseLexicon, defaultMedicalLexicon } from "./medical-lexicon.js";
export { diversityStats } from "./diversity-stats.js";
export type { DiversityStats } from "./diversity-stats.js";
export { applyInstructions, applyInstructionsStream, attachInstruction, poolFor, defaultPools, defaultSeeds, DEFAULT_SEEDS, SEED_INSTRUCTIONS } from "./instruction-pools.js";
export type { InstructionPools, ApplyOptions } from "./instruction-pools.js";
export { SeededRandom } from "./seeded-random.js";
export type { RandomState } from "./seeded-random.js";
export { AugmentError } from "./augment-error.js";
export type { AugmentErrorCode } from "./augment-error.js";
export { readInstructionFile } from "./instruction-file.js";
export type { InstructionEntry } from "./instruction-file.js";
