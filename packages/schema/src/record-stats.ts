import type { RecordKind } from "./records.js";

/** Summary of a list of lengths (characters, counted as UTF-16 units: one per Chinese character). */
export interface LengthSummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** What {@link collectStats} reports. */
export interface RecordStats {
  records: number;
  /** Records per kind (detected from the record's shape unless given). */
  byKind: Record<string, number>;
  /** Records per `source` (`(none)` when absent). */
  bySource: Record<string, number>;
  /** Dialogues (and pair prompts): user turns per record. */
  turns?: LengthSummary & { histogram: Record<string, number> };
  /** Length summaries per text field: `user`, `assistant`, `text`, `question`, `chosen`, `rejected`, `reference`, `output`. */
  lengths: Record<string, LengthSummary>;
  /** Multiple-choice questions: multi-answer count and per-subject counts. */
  choice?: { multiAnswer: number; bySubject: Record<string, number> };
}

/** The record kind a value looks like, from its fields; undefined when it matches none. */
export function detectKind(value: unknown): RecordKind | undefined {
  if (!value || typeof value !== "object") return undefined;
  const v = value as Record<string, unknown>;
  if (Array.isArray(v.messages)) return "dialogue";
  if ("chosen" in v && "rejected" in v && Array.isArray(v.prompt)) return "pair";
  if ("options" in v && "answer" in v) return "choice";
  if ("reference" in v && Array.isArray(v.prompt)) return "qa";
  if ("model" in v && "output" in v) return "prediction";
  if (typeof v.text === "string") return "doc";
  return undefined;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!sorted.length) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Summarise lengths: count, min, mean, p50/p90/p99 (nearest rank), max. */
export function summarize(values: number[]): LengthSummary {
  const s = Float64Array.from(values).sort();
  let sum = 0;
  for (const x of s) sum += x;
  return {
    count: s.length,
    min: s.length ? s[0]! : 0,
    mean: s.length ? Math.round((sum / s.length) * 10) / 10 : 0,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1]! : 0,
  };
}

const inc = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);

/** Accumulates {@link RecordStats} one record at a time (lengths are kept to compute exact percentiles). */
export class StatsCollector {
  private records = 0;
  private byKind: Record<string, number> = {};
  private bySource: Record<string, number> = {};
  private turns: number[] = [];
  private lengths: Record<string, number[]> = {};
  private multiAnswer = 0;
  private bySubject: Record<string, number> = {};
  private choices = 0;

  private len(field: string, n: number) {
    (this.lengths[field] ??= []).push(n);
  }

  /** Count one record; `kind` defaults to {@link detectKind}. */
  add(record: unknown, kind: RecordKind | undefined = detectKind(record)): void {
    this.records++;
    inc(this.byKind, kind ?? "unknown");
    const r = (record ?? {}) as Record<string, unknown>;
    inc(this.bySource, typeof r.source === "string" && r.source ? r.source : "(none)");
    const messagesLen = (msgs: unknown) => {
      let user = 0;
      let assistant = 0;
      let turns = 0;
      if (Array.isArray(msgs)) {
        for (const m of msgs as Array<{ role?: unknown; content?: unknown }>) {
          const n = typeof m?.content === "string" ? m.content.length : 0;
          if (m?.role === "user") {
            user += n;
            turns++;
          } else if (m?.role === "assistant") assistant += n;
        }
      }
      return { user, assistant, turns };
    };
    const str = (k: string) => (typeof r[k] === "string" ? (r[k] as string).length : 0);
    switch (kind) {
      case "dialogue": {
        const m = messagesLen(r.messages);
        this.turns.push(m.turns);
        this.len("user", m.user);
        this.len("assistant", m.assistant);
        break;
      }
      case "pair": {
        const m = messagesLen(r.prompt);
        this.turns.push(m.turns);
        this.len("user", m.user);
        this.len("chosen", str("chosen"));
        this.len("rejected", str("rejected"));
        break;
      }
      case "qa":
        this.len("user", messagesLen(r.prompt).user);
        this.len("reference", str("reference"));
        break;
      case "choice":
        this.choices++;
        this.len("question", str("question"));
        if (Array.isArray(r.answer) && r.answer.length > 1) this.multiAnswer++;
        if (typeof r.subject === "string") inc(this.bySubject, r.subject);
        break;
      case "doc":
        this.len("text", str("text"));
        break;
      case "prediction":
        this.len("output", str("output"));
        break;
      default:
        break;
    }
  }

  result(): RecordStats {
    const out: RecordStats = { records: this.records, byKind: this.byKind, bySource: this.bySource, lengths: {} };
    if (this.turns.length) {
      const histogram: Record<string, number> = {};
      for (const t of this.turns) inc(histogram, String(t));
      out.turns = { ...summarize(this.turns), histogram };
    }
    for (const [k, v] of Object.entries(this.lengths)) out.lengths[k] = summarize(v);
    if (this.choices) out.choice = { multiAnswer: this.multiAnswer, bySubject: this.bySubject };
    return out;
  }
}

/** Statistics of a record stream: counts per kind and source, turns per dialogue, length percentiles. */
export async function collectStats(records: AsyncIterable<unknown> | Iterable<unknown>, opts: { kind?: RecordKind } = {}): Promise<RecordStats> {
  const c = new StatsCollector();
  for await (const r of records) c.add(r, opts.kind ?? detectKind(r));
  return c.result();
}
