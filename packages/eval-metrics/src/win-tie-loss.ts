import { EvalInputError } from "./errors.js";
import { seededRandom } from "@sfmed/schema/io";

export interface WinTieLossOptions {
  /** |a − b| ≤ tieEpsilon counts as a tie. @default 0 (exact equality) */
  tieEpsilon?: number;
  /** Seed of the bootstrap resampler. @default 0 */
  seed?: number;
  /** Bootstrap resamples. @default 2000 */
  resamples?: number;
  /** Two-sided confidence level of the intervals. @default 0.95 */
  confidence?: number;
}

/** An interval `[low, high]` on a rate in [0, 1]. */
export type Interval = [number, number];

/** System A against system B, item by item. Rates are fractions of `n` (pairs with both scores present). */
export interface WinTieLoss {
  n: number;
  win: number;
  tie: number;
  loss: number;
  winRate: number;
  tieRate: number;
  lossRate: number;
  /** Percentile bootstrap intervals of the three rates (items resampled with replacement). */
  ci: { win: Interval; tie: Interval; loss: Interval };
  confidence: number;
  /** Exact two-sided sign test of wins against losses (ties left out); 1 when there are none. */
  signTestP: number;
  /** Pairs left out because a score was missing (null/undefined/NaN, e.g. an unparsable judgment). */
  dropped: number;
  /** The three rates as percentages with one decimal: `"48.5/20.0/31.5"` (the paper's cells: {@link formatWinTieLoss}). */
  formatted: string;
}

function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

// Lanczos approximation (g = 7, n = 9): ~15 significant digits, plenty for p-values.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
function logGamma(z: number): number {
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  z -= 1;
  let x = LANCZOS[0]!;
  for (let i = 1; i < 9; i++) x += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
}

/** Exact two-sided sign-test p-value for `wins` against `losses` under p = ½. */
export function signTestP(wins: number, losses: number): number {
  const n = wins + losses;
  if (n === 0) return 1;
  const k = Math.min(wins, losses);
  let tail = 0;
  for (let i = 0; i <= k; i++) tail += Math.exp(logChoose(n, i) - n * Math.LN2);
  return Math.min(1, 2 * tail);
}

function percentile(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface FormatWinTieLossOptions {
  /** Decimal places of each rate. @default 3, or 1 with `percent` */
  digits?: number;
  /** Rates ×100 (`"75.4/0.0/24.6"`) instead of the paper's fractions (`"0.754/0.000/0.246"`). @default false */
  percent?: boolean;
}

/** `count / n`, scaled by 10^digits and rounded half up, exactly (integer arithmetic), as a decimal string. */
function decimal(count: number, n: number, digits: number): string {
  const m = Math.round((count * 10 ** digits) / n);
  if (digits === 0) return String(m);
  const s = String(m).padStart(digits + 1, "0");
  return `${s.slice(0, -digits)}.${s.slice(-digits)}`;
}

/**
 * A win/tie/loss cell as the paper's tables print it: `"0.754/0.000/0.246"` (win, tie and loss rates, three
 * decimals), or percentages with `percent`. Each rate is rounded on its own, so a cell may sum to 1 ± 0.001, as
 * some of the paper's do (0.368/0.000/0.633). Given the counts (`win`, `tie`, `loss`, `n`, as {@link winTieLoss}
 * returns), halves round up exactly (29/200 → 0.15 at two digits); from rates alone, as `toFixed` rounds the float.
 * @throws EvalInputError when `digits` is not an integer in [0, 15]
 */
export function formatWinTieLoss(
  r: { winRate: number; tieRate: number; lossRate: number; win?: number; tie?: number; loss?: number; n?: number },
  options: FormatWinTieLossOptions = {},
): string {
  const percent = options.percent ?? false;
  const digits = options.digits ?? (percent ? 1 : 3);
  if (!Number.isInteger(digits) || digits < 0 || digits > 15) throw new EvalInputError(`digits must be an integer in [0, 15], got ${digits}`, { field: "digits" });
  const scale = percent ? 100 : 1;
  const counts = [r.win, r.tie, r.loss];
  if (r.n !== undefined && r.n > 0 && counts.every((c) => c !== undefined && Number.isInteger(c))) {
    return counts.map((c) => decimal(c! * scale, r.n!, digits)).join("/");
  }
  return [r.winRate, r.tieRate, r.lossRate].map((x) => (scale * x).toFixed(digits)).join("/");
}

const present = (x: number | null | undefined): x is number => typeof x === "number" && !Number.isNaN(x);

/**
 * Compare system A with system B on the same items: A wins item i when `scoresA[i] − scoresB[i] > tieEpsilon`.
 * Items where either score is missing are dropped (and counted). Intervals come from a seeded percentile
 * bootstrap over items; the p-value from an exact sign test on the non-tied items.
 * @throws EvalInputError when the arrays differ in length or an option is out of range.
 */
export function winTieLoss(
  scoresA: readonly (number | null | undefined)[],
  scoresB: readonly (number | null | undefined)[],
  options: WinTieLossOptions = {},
): WinTieLoss {
  if (scoresA.length !== scoresB.length)
    throw new EvalInputError(`scoresA has ${scoresA.length} items but scoresB has ${scoresB.length}`, { code: "LENGTH_MISMATCH", field: "scoresB" });
  const eps = options.tieEpsilon ?? 0;
  const resamples = options.resamples ?? 2000;
  const confidence = options.confidence ?? 0.95;
  if (!(eps >= 0)) throw new EvalInputError("tieEpsilon must be ≥ 0", { field: "tieEpsilon" });
  if (!(confidence > 0 && confidence < 1)) throw new EvalInputError("confidence must be in (0, 1)", { field: "confidence" });
  if (!(Number.isInteger(resamples) && resamples >= 1)) throw new EvalInputError("resamples must be a positive integer", { field: "resamples" });

  const outcome: number[] = []; // +1 win, 0 tie, -1 loss
  let dropped = 0;
  for (let i = 0; i < scoresA.length; i++) {
    const a = scoresA[i];
    const b = scoresB[i];
    if (!present(a) || !present(b)) {
      dropped++;
      continue;
    }
    const d = a - b;
    outcome.push(d > eps ? 1 : d < -eps ? -1 : 0);
  }
  const n = outcome.length;
  let win = 0;
  let loss = 0;
  for (const o of outcome) if (o > 0) win++;
  else if (o < 0) loss++;
  const tie = n - win - loss;
  const rate = (x: number) => (n ? x / n : 0);

  const rand = seededRandom(options.seed ?? 0);
  const wins = new Float64Array(resamples);
  const ties = new Float64Array(resamples);
  const losses = new Float64Array(resamples);
  if (n > 0) {
    for (let r = 0; r < resamples; r++) {
      let w = 0;
      let l = 0;
      for (let i = 0; i < n; i++) {
        const o = outcome[Math.floor(rand() * n)]!;
        if (o > 0) w++;
        else if (o < 0) l++;
      }
      wins[r] = w / n;
      losses[r] = l / n;
      ties[r] = (n - w - l) / n;
    }
  }
  const alpha = (1 - confidence) / 2;
  const interval = (xs: Float64Array): Interval => {
    xs.sort();
    return [percentile(xs, alpha), percentile(xs, 1 - alpha)];
  };
  const result = {
    n,
    win,
    tie,
    loss,
    winRate: rate(win),
    tieRate: rate(tie),
    lossRate: rate(loss),
    ci: { win: interval(wins), tie: interval(ties), loss: interval(losses) },
    confidence,
    signTestP: signTestP(win, loss),
    dropped,
  };
  return { ...result, formatted: formatWinTieLoss(result, { percent: true }) };
}
