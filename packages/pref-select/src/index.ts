export { PrefSelectError, OptionError, CheckpointMismatchError, ModelCallError } from "./errors.js";
export type { RejectedRow } from "./errors.js";
export { preferenceStrength } from "./preference-strength.js";
export type { Strength } from "./preference-strength.js";
export { selectPairs, selectionCount } from "./select-pairs.js";
export type { SelectOptions, SelectResult, SelectSummary, SelectAction, StrengthRow } from "./select-pairs.js";
