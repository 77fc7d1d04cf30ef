export { lcsLength, rougeL, scoreFromCounts, RougeError } from "./rouge-l.js";
export type { RougeScore, RougeLOptions, RougeCompat } from "./rouge-l.js";
export { rougeLBatch, rougeLMany } from "./rouge-batch.js";
export type { RougePair, RougeBatchOptions } from "./rouge-batch.js";
export { tokenize, charCodes } from "./tokenize.js";
export type { Tokenizer } from "./tokenize.js";
export { winTieLoss, signTestP, formatWinTieLoss } from "./win-tie-loss.js";
export type { WinTieLoss, WinTieLossOptions, Interval } from "./win-tie-loss.js";
export { EvalInputError } from "./errors.js";
