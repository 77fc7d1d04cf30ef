import { reservoirSample } from "@sfmed/eval-metrics";
import { PrivacyProbeError } from "../errors.js";
import { alpacaMessages, formatFromName, isBadRow, scanRows, shareGptMessages, type RowContext } from "@sfmed/schema";
import { splitText, type SplitOptions } from "./split-sample.js";

/** One probe item: the model is given `prefix` and should not be able to reproduce `suffix`. */
export interface ProbeSample {
  id: string;
  prefix: string;
  suffix: string;
  /** Tokens in `suffix` (sets the generation budget); counted with the split's tokenizer when known. */
  suffixTokens?: number;
}

export interface ChatTurn {
  role: string;
  content: string;
}

/**
 * Turns the conversation before the answer into the prompt text the model was trained on.
 * @default ChatML (`<|im_start|>role\ncontent<|im_end|>\n` per turn, then `<|im_start|>assistant\n`), the template of
 * trainer-py's models
 */
export type PromptRenderer = (turns: ChatTurn[]) => string;

export const chatmlPrompt: PromptRenderer = (turns) =>
  turns.map((t) => `<|im_start|>${t.role}\n${t.content}<|im_end|>\n`).join("") + "<|im_start|>assistant\n";

export interface ToProbeSampleOptions extends SplitOptions {
  renderPrompt?: PromptRenderer;
  /** Used for records without an `id`, and for error messages. */
  file?: string;
  line?: number;
}

function str(v: unknown): v is string {
  return typeof v === "string";
}

/** A converter context for the schema's ShareGPT/Alpaca readers whose failures are PrivacyProbeErrors. */
function rowContext(opts: ToProbeSampleOptions): RowContext<unknown> {
  const file = opts.file ?? "";
  return {
    file,
    stem: "",
    parent: "",
    line: opts.line ?? 0,
    index: opts.line ?? 0,
    tag: undefined,
    fail(reason: string, field?: string): never {
      throw new PrivacyProbeError(reason, { file: opts.file, line: opts.line, field });
    },
  };
}

/**
 * Build a probe sample from one record. Accepted shapes, by field:
 * - `prefix` + `suffix`: used as they are;
 * - `messages` (sfmed Dialogue) or `conversations` (ShareGPT `from`/`value`, read by the schema's `shareGptMessages`):
 *   A = the turns before the last assistant turn rendered with `renderPrompt`, B = the last assistant turn;
 * - `instruction` (+ `input`, `system`, `history`) + `output` (Alpaca, read by the schema's `alpacaMessages`): A = the
 *   rendered turns before the answer, B = `output`;
 * - `text` (sfmed TextDoc, pre-training documents): cut by `split`.
 * @returns undefined when a `text` is too short for the split
 * @throws {PrivacyProbeError} naming file, line and field for records of no known shape
 */
export async function toProbeSample(record: unknown, opts: ToProbeSampleOptions): Promise<ProbeSample | undefined> {
  const loc = { file: opts.file, line: opts.line };
  if (record === null || typeof record !== "object" || Array.isArray(record)) throw new PrivacyProbeError("a record must be a JSON object", loc);
  const r = record as Record<string, unknown>;
  const id = r.id === undefined ? `${opts.file ?? "line"}:${opts.line ?? 0}` : String(r.id);
  const render = opts.renderPrompt ?? chatmlPrompt;
  if (str(r.prefix) && str(r.suffix)) return { id, prefix: r.prefix, suffix: r.suffix };
  let turns: ChatTurn[] | undefined;
  if (Array.isArray(r.messages)) {
    turns = r.messages.map((m, i) => {
      const t = m as { role?: unknown; content?: unknown };
      if (!str(t?.role) || !str(t?.content)) throw new PrivacyProbeError("a message needs string role and content", { ...loc, field: `messages.${i}` });
      return { role: t.role, content: t.content };
    });
  } else if (Array.isArray(r.conversations) || (str(r.instruction) && str(r.output))) {
    // The schema's readers, so the prompt is the one training saw after `sfmed convert` (ShareGPT roles and a
    // top-level system; Alpaca's system, history and instruction + blank line + input).
    turns = Array.isArray(r.conversations) ? shareGptMessages(r, rowContext(opts)) : alpacaMessages(r, rowContext(opts));
  } else if (str(r.text)) {
    const s = await splitText(r.text, opts);
    return s && { id, prefix: s.prefix, suffix: s.suffix, suffixTokens: s.suffixTokens };
  }
  if (!turns) throw new PrivacyProbeError("no prefix/suffix, messages, conversations, instruction/output or text field", loc);
  let last = turns.length - 1;
  while (last >= 0 && turns[last]!.role !== "assistant") last--;
  if (last < 1) throw new PrivacyProbeError("a dialogue needs an assistant turn after a prompt", { ...loc, field: Array.isArray(r.messages) ? "messages" : "conversations" });
  return { id, prefix: render(turns.slice(0, last)), suffix: turns[last]!.content };
}

export interface ReadProbeSamplesOptions extends Omit<ToProbeSampleOptions, "file" | "line"> {
  file: string;
  /** Stop after the first this many samples, in file order. @default all */
  limit?: number;
  /**
   * A uniform random subset of `n` samples instead (reservoir sampling over the whole file: the paper probes a
   * random subset of the training data), deterministic for `seed` (default 0), yielded in file order once the file
   * has been read. Excludes `limit`.
   */
  sample?: { n: number; seed?: number };
}

/**
 * Stream probe samples from a JSONL, JSON-array, CSV/TSV or Parquet file (gzip and GB18030 too), skipping blank lines and texts too short to split;
 * the first `limit`, or a seeded random `sample` of them.
 * @throws {PrivacyProbeError} naming file and line for a line that is not JSON or a record of no known shape; for
 *   `limit` together with `sample`
 */
export async function* readProbeSamples(opts: ReadProbeSamplesOptions): AsyncGenerator<ProbeSample> {
  if (opts.sample) {
    if (opts.limit !== undefined) throw new PrivacyProbeError("limit and sample exclude each other", { field: "sample" });
    const { sample, ...rest } = opts;
    yield* (await reservoirSample(readProbeSamples(rest), sample.n, { seed: sample.seed ?? 0 })).items;
    return;
  }
  let n = 0;
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  // Through the schema readers: JSONL, JSON arrays, CSV/TSV and Parquet; gzip inflated; UTF-8 or GB18030
  // detected, and bytes invalid in the encoding are an error naming line and byte (never U+FFFD).
  const rows: AsyncIterable<{ value: unknown; line: number }> =
    formatFromName(opts.file) === "parquet"
      ? (async function* () {
          const { readParquet } = await import("@sfmed/schema/parquet");
          for await (const r of readParquet(opts.file)) yield { value: r.record, line: r.line };
        })()
      : (async function* () {
          for await (const row of scanRows(opts.file)) {
            if (isBadRow(row)) throw new PrivacyProbeError("not valid JSON", { file: opts.file, line: row.line, cause: row.error });
            yield { value: row.value, line: row.line };
          }
        })();
  for await (const { value, line } of rows) {
    const s = await toProbeSample(value, { ...opts, line });
    if (!s) continue;
    if (n++ >= limit) return;
    yield s;
  }
}
