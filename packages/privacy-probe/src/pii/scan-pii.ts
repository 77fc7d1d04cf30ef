import { bankCardDetector } from "./bank-card.js";
import { emailAddressDetector } from "./email-address.js";
import { landlineNumberDetector } from "./landline-number.js";
import { mobileNumberDetector } from "./mobile-number.js";
import type { PiiDetector, PiiKind, PiiMatch } from "./pii-types.js";
import { residentIdDetector, type ResidentIdOptions } from "./resident-id.js";

export interface ScanPiiOptions {
  /** Kinds to look for. @default all five */
  kinds?: readonly PiiKind[];
  /** Findings scoring below this are dropped. @default 0.5 */
  threshold?: number;
  /** Also accept 15-digit legacy resident IDs. @default false */
  legacyResidentIds?: boolean;
  /** Birth dates after this make an ID invalid. @default the current date */
  now?: Date;
  /** Extra detectors (for example a recognizer for hospital record numbers); they take part in overlap resolution. */
  extraDetectors?: readonly PiiDetector[];
}

/** The built-in detectors for the requested kinds, in priority order. */
export function defaultDetectors(opts: ScanPiiOptions = {}): PiiDetector[] {
  const idOpts: ResidentIdOptions = { legacy: opts.legacyResidentIds ?? false, ...(opts.now ? { now: opts.now } : {}) };
  const all: PiiDetector[] = [residentIdDetector(idOpts), bankCardDetector(), mobileNumberDetector(), landlineNumberDetector(), emailAddressDetector()];
  const kinds = new Set(opts.kinds ?? all.map((d) => d.kind));
  return [...all.filter((d) => kinds.has(d.kind)), ...(opts.extraDetectors ?? [])];
}

/**
 * Find personal data in a text. Every detector proposes scored candidates; candidates under `threshold` are dropped;
 * where two overlap, the higher score wins, then the higher detector priority (ID > card > mobile > landline >
 * e-mail), then the longer match. Result is sorted by position and free of overlaps.
 */
export function scanPii(text: string, opts: ScanPiiOptions = {}): PiiMatch[] {
  const threshold = opts.threshold ?? 0.5;
  const detectors = defaultDetectors(opts);
  const candidates: Array<PiiMatch & { prio: number }> = [];
  for (const d of detectors) {
    for (const m of d.find(text)) if (m.score >= threshold) candidates.push({ ...m, prio: d.priority });
  }
  candidates.sort((a, b) => b.score - a.score || b.prio - a.prio || b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: Array<PiiMatch & { prio: number }> = [];
  for (const c of candidates) {
    if (kept.every((k) => c.end <= k.start || c.start >= k.end)) kept.push(c);
  }
  kept.sort((a, b) => a.start - b.start);
  return kept.map(({ prio: _prio, ...m }) => m);
}
