// Streamed chat answers: retried only until the stream opens, then watched for silence; the finished answer is
// cached under the same key as a non-streamed chat with the same parameters.
import type OpenAI from "openai";
import type { Message } from "@sfmed/schema";
import { LlmError, type LlmErrorCode } from "./llm-error.js";
import { chatBody, charsOf, estimate, parseChat } from "./openai-requests.js";
import type { OpenAITransport } from "./openai-transport.js";
import type { ChatOptions, ChatResult, Usage } from "./types.js";

/** One event of a streamed chat: text as it arrives, then the whole result. */
export type ChatStreamEvent = { type: "delta"; text: string } | { type: "done"; result: ChatResult };

type Opened = { stream: AsyncIterable<OpenAI.Chat.ChatCompletionChunk>; requestId: string | undefined };

/** An abort controller for the stream that fires on the caller's signal or after `idleMs` without a chunk. */
function idleWatch(signal: AbortSignal | undefined, idleMs: number) {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const w = {
    signal: ctl.signal,
    timedOut: false,
    lastChunkAt: Date.now(),
    arm() {
      w.lastChunkAt = Date.now();
      clearTimeout(timer);
      timer = setTimeout(() => {
        w.timedOut = true;
        ctl.abort(new Error("stream idle timeout"));
      }, idleMs);
    },
    dispose() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
  return w;
}

/** Open the stream under the transport's limits and retries; the attempt's deadline covers opening only. */
function openStream(t: OpenAITransport, body: Record<string, unknown>, messages: Message[], options: Omit<ChatOptions, "n">, idleMs: number, watch: AbortSignal): Promise<Opened> {
  return t.withRetries("/chat/completions", estimate(charsOf(messages), options.maxTokens), options.signal, idleMs, async (attemptSignal) => {
    const { data, response } = await t.client.chat.completions
      .create(body as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming, { maxRetries: 0, timeout: idleMs + 1000, signal: AbortSignal.any([attemptSignal, watch]) })
      .withResponse();
    return { value: { stream: data, requestId: response.headers.get("x-request-id") ?? undefined }, tokens: 0 };
  });
}

/** Check how a stream ended: aborted, silent for too long, or cut off without a finish reason all throw. */
function checkEnd(url: string, options: Omit<ChatOptions, "n">, w: { timedOut: boolean }, idleMs: number, text: string, finish: string | undefined, requestId: string | undefined): asserts finish is string {
  // The SDK ends the iteration quietly when its controller aborts, so look at why it stopped.
  if (options.signal?.aborted) throw new LlmError(`stream from ${url} aborted`, { code: "ABORTED", url, cause: options.signal.reason });
  if (w.timedOut) throw new LlmError(`stream from ${url} was silent for ${idleMs} ms after ${text.length} characters`, { code: "TIMEOUT", url, requestId, retryable: true });
  if (finish === undefined) throw new LlmError(`stream from ${url} ended without a finish reason after ${text.length} characters`, { code: "STREAM_INTERRUPTED", url, requestId, retryable: true });
}

/** Stream a chat answer (one choice). Retries only before the first chunk; caches the finished answer. */
export async function* streamChat(t: OpenAITransport, model: string, messages: Message[], options: Omit<ChatOptions, "n"> = {}): AsyncGenerator<ChatStreamEvent, void, undefined> {
  const endpoint = "/chat/completions";
  const url = t.urlOf(endpoint);
  const plain = JSON.parse(JSON.stringify(chatBody(model, messages, options, false))) as Record<string, unknown>;
  const { key, hit } = await t.lookup(endpoint, plain, parseChat(t, endpoint));
  if (hit) {
    yield { type: "delta", text: hit.value.texts[0] ?? "" };
    yield { type: "done", result: { ...hit.value, cached: true } };
    return;
  }
  t.admit(endpoint);
  const idleMs = options.timeoutMs ?? t.timeoutDefault;
  const w = idleWatch(options.signal, idleMs);
  let opened: Opened | undefined;
  try {
    opened = await openStream(t, { ...plain, stream: true, stream_options: { include_usage: true } }, messages, options, idleMs, w.signal);
    let text = "";
    let finish: string | undefined;
    let usage: Usage = { promptTokens: 0, completionTokens: 0 };
    w.arm();
    try {
      for await (const chunk of opened.stream) {
        w.arm();
        const c = chunk.choices?.[0];
        if (c?.delta?.content) {
          text += c.delta.content;
          yield { type: "delta", text: c.delta.content };
        }
        if (c?.finish_reason) finish = c.finish_reason;
        if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens ?? 0, completionTokens: chunk.usage.completion_tokens ?? 0 };
      }
    } catch (err) {
      if (options.signal?.aborted) throw new LlmError(`stream from ${url} aborted`, { code: "ABORTED", url, cause: options.signal.reason });
      // The client's own timer may win the race against ours; silence as long as the limit means a timeout.
      const code: LlmErrorCode = w.timedOut || Date.now() - w.lastChunkAt >= idleMs - 5 ? "TIMEOUT" : "STREAM_INTERRUPTED";
      const msg = err instanceof Error ? err.message : String(err);
      throw new LlmError(t.scrub(`stream from ${url} broke off after ${text.length} characters: ${msg}`), { code, url, requestId: opened.requestId, retryable: true });
    }
    checkEnd(url, options, w, idleMs, text, finish, opened.requestId);
    t.account(usage, false);
    const raw = { choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finish }], usage: { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens } };
    await t.store(key, endpoint, raw, opened.requestId);
    yield { type: "done", result: { texts: [text], finishReasons: [finish], usage, cached: false, requestId: opened.requestId } };
  } catch (err) {
    // Failures before the stream opened were counted by withRetries.
    if (opened) t.stats.failures++;
    throw err;
  } finally {
    w.dispose();
  }
}
