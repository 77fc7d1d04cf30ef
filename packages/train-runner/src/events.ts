/**
 * Trainer events: one JSON object per stdout line (trainer-py/EVENTS.md). Unknown fields pass through so a newer
 * trainer never breaks an older runner; unknown event names arrive as `OtherEvent`.
 */
export interface BaseEvent {
  event: string;
  /** Event schema version. */
  v?: number;
  time?: number;
  [key: string]: unknown;
}
export interface StartEvent extends BaseEvent {
  event: "start";
  stage?: string;
  total_steps?: number;
}
export interface StepEvent extends BaseEvent {
  event: "step";
  step: number;
  epoch?: number;
  loss?: number;
  lr?: number;
  grad_norm?: number;
  tokens_per_s?: number;
  total_steps?: number;
}
export interface EvalEvent extends BaseEvent {
  event: "eval";
  step?: number;
  eval_loss?: number;
}
export interface CheckpointEvent extends BaseEvent {
  event: "checkpoint";
  path: string;
  step?: number;
  best?: boolean;
}
export interface DoneEvent extends BaseEvent {
  event: "done";
  interrupted?: boolean;
  output_dir?: string;
  /** The model to use downstream: the best checkpoint when kept, else the final one. */
  model?: string;
  final_model?: string;
  best_model?: string | null;
  /** rm with several models: each model's folder. */
  models?: string[];
  best_checkpoint?: string;
  metrics?: Record<string, number>;
}
export interface ErrorEvent extends BaseEvent {
  event: "error";
  type?: string;
  message?: string;
  traceback?: string;
}
export interface ReadyEvent extends BaseEvent {
  event: "ready";
  url: string;
}
export type KnownEvent = StartEvent | StepEvent | EvalEvent | CheckpointEvent | DoneEvent | ErrorEvent | ReadyEvent;
export type KnownEventName = KnownEvent["event"];

const KNOWN_EVENTS: ReadonlySet<string> = new Set<KnownEventName>(["start", "step", "eval", "checkpoint", "done", "error", "ready"]);

/**
 * An event whose name is none of `KnownEventName` (a newer trainer's); it passes through with all its fields.
 * Its `event` is any string, so comparing `e.event` alone cannot rule it out: narrow with `isKnownEvent` (then
 * `e.event === "step"` gives `StepEvent`) or with `isEvent(e, "step")`.
 */
export interface OtherEvent extends BaseEvent {
  event: string;
}
export type TrainerEvent = KnownEvent | OtherEvent;

/** True for the events this runner knows; `false` narrows to `OtherEvent`. */
export function isKnownEvent(e: TrainerEvent): e is KnownEvent {
  return KNOWN_EVENTS.has(e.event);
}

/** True when `e` is the known event `name`: `isEvent(e, "step")` narrows to `StepEvent`. */
export function isEvent<N extends KnownEventName>(e: TrainerEvent, name: N): e is Extract<KnownEvent, { event: N }> {
  return e.event === name;
}

/** Parse one stdout line; returns undefined for lines that are not event objects (stray prints). */
export function parseEventLine(line: string): TrainerEvent | undefined {
  const s = line.trim();
  if (!s.startsWith("{")) return undefined;
  try {
    const v = JSON.parse(s) as unknown;
    if (v && typeof v === "object" && typeof (v as BaseEvent).event === "string") return v as TrainerEvent;
  } catch {
    /* not an event */
  }
  return undefined;
}

/** Splits a byte stream into lines, tolerating chunks that cut lines (and UTF-8 sequences) anywhere. */
export class LineSplitter {
  private buf = "";
  private readonly decoder = new TextDecoder();
  push(chunk: Uint8Array | string): string[] {
    this.buf += typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    const parts = this.buf.split("\n");
    this.buf = parts.pop() ?? "";
    return parts;
  }
  flush(): string[] {
    const rest = this.buf + this.decoder.decode();
    this.buf = "";
    return rest ? [rest] : [];
  }
}
