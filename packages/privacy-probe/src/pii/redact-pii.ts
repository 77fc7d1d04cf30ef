import { createHmac } from "node:crypto";
import { PrivacyProbeError } from "../errors.js";
import type { PiiKind, PiiMatch } from "./pii-types.js";
import { scanPii, type ScanPiiOptions } from "./scan-pii.js";

/** `mask`: replace characters with `*`; `tag`: replace with a label such as `[身份证号]`; `hash`: label + salted hash. */
export type RedactionMode = "mask" | "tag" | "hash";

/** The labels `tag` and `hash` modes write. */
export const PII_TAGS: Readonly<Record<PiiKind, string>> = {
  "resident-id": "身份证号",
  mobile: "手机号",
  landline: "电话号码",
  email: "电子邮箱",
  "bank-card": "银行卡号",
};

export interface RedactOptions extends ScanPiiOptions {
  /** @default "tag" */
  mode?: RedactionMode;
  /** Secret mixed into `hash` mode so that values cannot be recovered by hashing guesses. Required for `hash`. */
  salt?: string;
  /** Hex characters of the hash to keep. @default 12 */
  hashLength?: number;
  /** Masking character. @default "*" */
  maskChar?: string;
  /** In `mask` mode, letters/digits kept visible at the start and end (e.g. 3 and 4 → `138****5678`). @default 0 and 0 */
  keepStart?: number;
  keepEnd?: number;
  /** Override labels per kind. */
  tags?: Partial<Record<PiiKind, string>>;
}

export interface RedactResult {
  text: string;
  matches: PiiMatch[];
}

/** The value a hash is computed over: digits only for numbers (so `138 0013 8000` = `13800138000`), lower case for e-mail. */
export function normalizePiiValue(kind: PiiKind, value: string): string {
  if (kind === "email") return value.toLowerCase();
  const digits = value.replace(/[^0-9Xx]/g, "").toUpperCase();
  if (kind === "mobile") return digits.replace(/^(?:0086|86)(?=1\d{10}$)/, "");
  return digits;
}

function maskValue(value: string, char: string, keepStart: number, keepEnd: number): string {
  const total = [...value].filter((c) => /[0-9A-Za-z]/.test(c)).length;
  let seen = 0;
  let out = "";
  for (const c of value) {
    if (!/[0-9A-Za-z]/.test(c)) {
      out += c;
      continue;
    }
    const keep = seen < keepStart || seen >= total - keepEnd;
    out += keep ? c : char;
    seen++;
  }
  return out;
}

/**
 * The replacement for one finding.
 * @throws {PrivacyProbeError} code `NO_SALT` in `hash` mode without a salt
 */
export function replacementFor(match: PiiMatch, opts: RedactOptions = {}): string {
  const mode = opts.mode ?? "tag";
  const tag = opts.tags?.[match.kind] ?? PII_TAGS[match.kind];
  if (mode === "tag") return `[${tag}]`;
  if (mode === "mask") return maskValue(match.text, opts.maskChar ?? "*", opts.keepStart ?? 0, opts.keepEnd ?? 0);
  if (!opts.salt) throw new PrivacyProbeError("hash redaction needs a salt", { code: "NO_SALT", field: "salt" });
  const h = createHmac("sha256", opts.salt).update(`${match.kind}:${normalizePiiValue(match.kind, match.text)}`).digest("hex");
  return `[${tag}:${h.slice(0, opts.hashLength ?? 12)}]`;
}

/**
 * Scan a text and replace every finding. Hash mode is stable: the same value with the same salt always gets the
 * same token, across documents and runs, so redacted corpora still show which records share a person.
 * @throws {PrivacyProbeError} code `NO_SALT` in `hash` mode without a salt
 */
export function redactPii(text: string, opts: RedactOptions = {}): RedactResult {
  if ((opts.mode ?? "tag") === "hash" && !opts.salt) throw new PrivacyProbeError("hash redaction needs a salt", { code: "NO_SALT", field: "salt" });
  const matches = scanPii(text, opts);
  if (matches.length === 0) return { text, matches };
  let out = "";
  let at = 0;
  for (const m of matches) {
    out += text.slice(at, m.start) + replacementFor(m, opts);
    at = m.end;
  }
  return { text: out + text.slice(at), matches };
}
