import { createHash } from "node:crypto";
import { loopbackServer, sendJson, type LoopbackServer } from "./loopback-server.js";

export interface FakeOpenAIOptions {
  /** The assistant text for a chat request. @default "（模拟回答）" + the last user message */
  chat?: (messages: Array<{ role: string; content: string }>, body: Record<string, unknown>) => string;
  /** Embedding width. @default 8 */
  dim?: number;
  /** Close when the current vitest test finishes. @default true */
  autoClose?: boolean;
}

export interface FakeOpenAI extends LoopbackServer {
  /** `${url}/v1`, what `createOpenAIModel({ baseURL })` and `OPENAI_BASE_URL` take. */
  baseURL: string;
}

/** A deterministic unit vector for `text` (same text, same vector). */
function vectorOf(text: string, dim: number): number[] {
  const h = createHash("sha256").update(text).digest();
  const v = Array.from({ length: dim }, (_, i) => (h[i % h.length]! - 127.5) / 127.5);
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
}

/** Judge prompts get a verdict in their format (a 1–10 "[[rating]]", a "[[X]]" letter), from the prompt's hash; anything else an echo. */
function defaultReply(messages: Array<{ role: string; content: string }>): string {
  const prompt = messages.map((m) => m.content).join("\n");
  const h = createHash("sha256").update(prompt).digest()[0]!;
  if (prompt.includes("[[rating]]")) return `评价：回答基本正确。Rating: [[${1 + (h % 10)}]]`;
  // Pick-the-best prompts ("[[X]]", letters A to the last one named): a letter from the prompt's hash.
  const last = prompt.includes("[[X]]") ? /A\s*(?:到|to|-|–)\s*([B-Z])/.exec(prompt)?.[1] : undefined;
  if (last) return `理由：该回答更全面。\n[[${String.fromCharCode(65 + (h % (last.charCodeAt(0) - 64)))}]]`;
  return `（模拟回答）${messages.filter((m) => m.role === "user").at(-1)?.content ?? ""}`;
}

/**
 * An OpenAI-compatible server on 127.0.0.1 with canned, deterministic answers: `/v1/chat/completions` (plain and
 * streamed), `/v1/completions` (with log-probs), `/v1/embeddings` and trainer-py serve's `/v1/score`.
 */
export async function fakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const dim = opts.dim ?? 8;
  const usage = (p: string, c: string) => ({ prompt_tokens: p.length, completion_tokens: c.length, total_tokens: p.length + c.length });
  const server = await loopbackServer(
    (req, res) => {
      const body = (req.body ? JSON.parse(req.body) : {}) as Record<string, unknown>;
      const model = String(body.model ?? "fake");
      const path = (req.url ?? "").replace(/\?.*$/, "");
      if (path.endsWith("/chat/completions")) {
        const messages = (body.messages ?? []) as Array<{ role: string; content: string }>;
        const prompt = messages.map((m) => m.content).join("\n");
        const text = opts.chat ? opts.chat(messages, body) : defaultReply(messages);
        if (body.stream) {
          res.writeHead(200, { "content-type": "text/event-stream" });
          const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
            res.write(`data: ${JSON.stringify({ id: "fake", object: "chat.completion.chunk", created: 0, model, choices, ...extra })}\n\n`);
          for (const piece of Array.from(text)) chunk([{ index: 0, delta: { content: piece }, finish_reason: null }]);
          chunk([{ index: 0, delta: {}, finish_reason: "stop" }]);
          chunk([], { usage: usage(prompt, text) });
          res.end("data: [DONE]\n\n");
          return;
        }
        const n = Number(body.n ?? 1);
        const choices = Array.from({ length: n }, (_, index) => ({ index, message: { role: "assistant", content: text }, finish_reason: "stop", logprobs: null }));
        sendJson(res, 200, { id: "fake", object: "chat.completion", created: 0, model, choices, usage: usage(prompt, text) });
      } else if (path.endsWith("/completions")) {
        const prompt = String(body.prompt ?? "");
        const text = Array.from(prompt).slice(-Number(body.max_tokens ?? 16)).join("");
        const tokens = Array.from(text);
        const logprobs = body.logprobs ? { tokens, token_logprobs: tokens.map(() => -0.1), top_logprobs: null, text_offset: null } : null;
        sendJson(res, 200, { id: "fake", object: "text_completion", created: 0, model, choices: [{ index: 0, text, finish_reason: "length", logprobs }], usage: usage(prompt, text) });
      } else if (path.endsWith("/embeddings")) {
        const input = body.input;
        const inputs = (Array.isArray(input) ? input : [input]).map(String);
        sendJson(res, 200, { object: "list", model, data: inputs.map((t, index) => ({ object: "embedding", index, embedding: vectorOf(t, dim) })), usage: usage(inputs.join(""), "") });
      } else if (path.endsWith("/score")) {
        const items = (body.items ?? []) as Array<{ response: string }>;
        sendJson(res, 200, { scores: items.map((it) => Array.from(it.response).length / 10), usage: { prompt_tokens: 0 } });
      } else {
        sendJson(res, 404, { error: { message: `no route ${path}`, type: "invalid_request_error" } });
      }
    },
    opts.autoClose === false ? { autoClose: false } : {},
  );
  return { ...server, baseURL: `${server.url}/v1` };
}
