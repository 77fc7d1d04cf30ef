// Type tests of the public API (vitest project "types"): what callers rely on at compile time.
import type { Message } from "@sfmed/schema";
import { describe, expectTypeOf, it } from "vitest";
import {
  type ChatModel,
  type ChatOptions,
  type ChatResult,
  type ChatStreamEvent,
  createOpenAIModel,
  isLlmError,
  type LlmError,
  type LlmErrorCode,
  type OpenAIModel,
  type OpenAIModelOptions,
} from "@sfmed/llm";

describe("client options", () => {
  it("createOpenAIModel needs a baseURL and a model; everything else is optional", () => {
    expectTypeOf(createOpenAIModel).parameter(0).toEqualTypeOf<OpenAIModelOptions>();
    expectTypeOf(createOpenAIModel).returns.toEqualTypeOf<OpenAIModel>();
    expectTypeOf<{ baseURL: string; model: string }>().toExtend<OpenAIModelOptions>();
    expectTypeOf<OpenAIModelOptions["concurrency"]>().toEqualTypeOf<number | undefined>();
    expectTypeOf<OpenAIModelOptions["random"]>().toEqualTypeOf<(() => number) | undefined>();
    // @ts-expect-error: `model` is required
    createOpenAIModel({ baseURL: "http://127.0.0.1:8000/v1" });
  });

  it("an OpenAIModel is a ChatModel whose chat takes messages and options", () => {
    expectTypeOf<OpenAIModel>().toExtend<ChatModel>();
    expectTypeOf<ChatModel["chat"]>().parameters.toEqualTypeOf<[messages: Message[], options?: ChatOptions]>();
    expectTypeOf<ChatModel["chat"]>().returns.toEqualTypeOf<Promise<ChatResult>>();
  });

  it("stream events narrow by `type`", () => {
    const e = {} as ChatStreamEvent;
    if (e.type === "delta") expectTypeOf(e.text).toBeString();
    else expectTypeOf(e.result).toEqualTypeOf<ChatResult>();
  });
});

describe("errors", () => {
  it("LlmError has a literal name, a closed code union, and a guard", () => {
    expectTypeOf<LlmError["name"]>().toEqualTypeOf<"LlmError">();
    expectTypeOf<LlmError["code"]>().toEqualTypeOf<LlmErrorCode>();
    expectTypeOf<LlmErrorCode>().toEqualTypeOf<"HTTP_ERROR" | "TIMEOUT" | "CONNECTION" | "ABORTED" | "BAD_RESPONSE" | "STREAM_INTERRUPTED" | "BUDGET_EXCEEDED">();
    expectTypeOf(isLlmError).guards.toEqualTypeOf<LlmError>();
  });
});
