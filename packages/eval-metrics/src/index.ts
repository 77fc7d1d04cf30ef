export { lcsLength, rougeL, scoreFromCounts, RougeError } from "./rouge-l.js";
export type { RougeScore, RougeLOptions, RougeCompat } from "./rouge-l.js";
export { createRougePool, rougeLBatch, rougeLMany } from "./rouge-batch.js";
export type { RougePair, RougeBatchOptions, RougePool, RougePoolOptions, RougePoolScoreOptions } from "./rouge-batch.js";
export { tokenize, charCodes } from "./tokenize.js";
export type { Tokenizer } from "./tokenize.js";
export { winTieLoss, signTestP, formatWinTieLoss } from "./win-tie-loss.js";
export type { WinTieLoss, WinTieLossOptions, FormatWinTieLossOptions, Interval } from "./win-tie-loss.js";
export { reservoirSample, ReservoirSampler } from "./reservoir-sample.js";
export type { ReservoirOptions, ReservoirResult } from "./reservoir-sample.js";
export { EvalInputError } from "./errors.js";
export { extractChoice, explainChoice } from "./choice-extract.js";
export type { ExtractChoiceOptions, ChoiceExtraction, ChoiceOptions } from "./choice-extract.js";
export { scoreChoices, defaultIsMultiple } from "./choice-score.js";
export { decideChoices, decisionLookup, choiceJudgeMessages, parseChoiceJudgment, CHOICE_EXTRACTOR_MODES, CHOICE_JUDGE_PROMPT_VERSION } from "./choice-llm.js";
export type { ChoiceExtractorMode, ChoiceDecision, DecideChoicesOptions, ChoiceJudgeInput } from "./choice-llm.js";
export { classifyStem } from "./choice-stem.js";
export type { StemKind } from "./choice-stem.js";
export { matchContent, scoreOptions } from "./choice-content.js";
export type { ContentScore } from "./choice-content.js";
export type { ChoiceScores, ChoiceGroupScore, ChoiceItemResult, ScoreChoicesOptions } from "./choice-score.js";
export { stripThinking } from "./strip-thinking.js";
export { overallRubric, cmbClinRubric } from "./judge-rubric.js";
export type { JudgeRubric, RubricDimension, JudgeInput } from "./judge-rubric.js";
export { parseJudgment } from "./judge-parse.js";
export { judgeAnswer, judgeAnswers, compareByJudge, JudgeParseError } from "./judge-score.js";
export type { JudgeOptions, JudgeManyOptions, Judgment, JudgeResult, CompareItem, CompareResult } from "./judge-score.js";
export { evaluateRouge, evaluateChoices, evaluateJudge, evaluateCompare, groupByModel, questionText } from "./evaluate.js";
export type { RougeItem, CompareOptions } from "./evaluate.js";
export { renderMarkdown } from "./report-markdown.js";
export type { RenderMarkdownOptions } from "./report-markdown.js";
export { renderHtml, barChartSvg, winTieLossSvg } from "./report-html.js";
export type {
  EvalReport,
  RougeReport,
  RougeSystemSummary,
  ChoiceReport,
  ChoiceSystemSummary,
  JudgeReport,
  JudgeSystemSummary,
  CompareReport,
} from "./report-types.js";
