/** The kinds of personal data the scanner knows. */
export type PiiKind = "resident-id" | "mobile" | "landline" | "email" | "bank-card";

export const PII_KINDS: readonly PiiKind[] = ["resident-id", "mobile", "landline", "email", "bank-card"];

/** One finding in a text. Offsets are UTF-16 indices (`text.slice(start, end)` is the match). */
export interface PiiMatch {
  kind: PiiKind;
  start: number;
  end: number;
  text: string;
  /** Confidence in [0, 1]: 1 for checksum-validated values, lower for pattern-only ones, raised or lowered by context. */
  score: number;
  /** Why the score is what it is, e.g. `["checksum", "context:身份证"]`. */
  reasons: string[];
}

/** A detector finds candidates of one kind; overlap resolution and thresholds happen in `scanPii`. */
export interface PiiDetector {
  readonly kind: PiiKind;
  /** Higher wins when two findings overlap with equal score. */
  readonly priority: number;
  find(text: string): PiiMatch[];
}
