// Typed parsers for option values, shared by every subcommand: a bad value is a UsageError (exit 2) that names
// the flag, the value and what was expected, never a NaN or a RangeError deep inside a library.
import { UsageError } from "./context.js";

/** Bounds of a numeric option (inclusive unless said otherwise). */
export interface NumberBounds {
  min?: number;
  max?: number;
  /** `min` itself is not allowed (e.g. a temperature > 0). */
  minExclusive?: boolean;
  maxExclusive?: boolean;
  /** What the message says is expected, in place of the generated "an integer ≥ 1" (e.g. "a fraction between 0 and 1"). */
  expected?: string;
}

const flagName = (flag: string) => (flag.startsWith("-") ? flag : `--${flag}`);

function describeBounds(b: NumberBounds): string {
  const lo = b.min === undefined ? "" : `${b.minExclusive ? ">" : "≥"} ${b.min}`;
  const hi = b.max === undefined ? "" : `${b.maxExclusive ? "<" : "≤"} ${b.max}`;
  return [lo, hi].filter(Boolean).join(" and ");
}

function parse(flag: string, value: string, integer: boolean, b: NumberBounds): number {
  const n = Number(value);
  const what = b.expected ?? `${integer ? "an integer" : "a number"}${describeBounds(b) ? ` ${describeBounds(b)}` : ""}`;
  const bad =
    value.trim() === "" ||
    !Number.isFinite(n) ||
    (integer && !Number.isSafeInteger(n)) ||
    (b.min !== undefined && (b.minExclusive ? n <= b.min : n < b.min)) ||
    (b.max !== undefined && (b.maxExclusive ? n >= b.max : n > b.max));
  if (bad) throw new UsageError(`${flagName(flag)} must be ${what}, got "${value}"`);
  return n;
}

/** A finite number within `bounds`. */
export function numberFlag(flag: string, value: string, bounds?: NumberBounds): number;
export function numberFlag(flag: string, value: string | undefined, bounds?: NumberBounds): number | undefined;
export function numberFlag(flag: string, value: string | undefined, bounds: NumberBounds = {}): number | undefined {
  return value === undefined ? undefined : parse(flag, value, false, bounds);
}

/** A safe integer within `bounds` (`1e3` is accepted as 1000; `1.5`, `1e300` and `NaN` are not). */
export function intFlag(flag: string, value: string, bounds?: NumberBounds): number;
export function intFlag(flag: string, value: string | undefined, bounds?: NumberBounds): number | undefined;
export function intFlag(flag: string, value: string | undefined, bounds: NumberBounds = {}): number | undefined {
  return value === undefined ? undefined : parse(flag, value, true, bounds);
}

/** A number in [0, 1]. */
export function fractionFlag(flag: string, value: string, opts?: Pick<NumberBounds, "expected">): number;
export function fractionFlag(flag: string, value: string | undefined, opts?: Pick<NumberBounds, "expected">): number | undefined;
export function fractionFlag(flag: string, value: string | undefined, opts: Pick<NumberBounds, "expected"> = {}): number | undefined {
  return numberFlag(flag, value, { min: 0, max: 1, ...opts });
}

/** One of `allowed`; `opts.expected` replaces the list in the message (e.g. "one of ties, dare_ties"). */
export function enumFlag<T extends string>(flag: string, value: string, allowed: readonly T[], opts?: { expected?: string }): T;
export function enumFlag<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], opts?: { expected?: string }): T | undefined;
export function enumFlag<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], opts: { expected?: string } = {}): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flagName(flag)} must be ${opts.expected ?? allowed.join(", ")}, got "${value}"`);
  return value as T;
}

/** Upper bounds that keep a typo (`--resamples 1e12`) from exhausting memory. */
export const LIMITS = {
  /** Bootstrap resamples. */
  resamples: 1_000_000,
  /** Requests or threads in flight. */
  concurrency: 4096,
  /** Responses per prompt. */
  responses: 1024,
} as const;

/** Credentials in a URL (`https://user:pass@host`, `?api_key=…`) replaced by `***`, for messages and reports. */
export function maskUrl(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]+)(?::([^/@\s]*))?@/gi, (_m, scheme: string) => `${scheme}***@`)
    .replace(/([?&](?:api[_-]?key|key|token|access_token|password)=)[^&\s#]+/gi, "$1***");
}
