// Type tests of the record-prompt API (vitest project "types").
import type { Message } from "@sfmed/schema";
import { describe, expectTypeOf, it } from "vitest";
import { type ChatModel, choicePrompt, promptOfRecord, sampleAnswers } from "./index.js";

describe("record prompts", () => {
  it("a record of any shape gives messages; the location is required", () => {
    expectTypeOf(promptOfRecord).parameter(0).toBeUnknown();
    expectTypeOf(promptOfRecord).returns.toEqualTypeOf<Message[]>();
    // @ts-expect-error the file and line the error would name
    promptOfRecord({ question: "q" });
    expectTypeOf(choicePrompt).returns.toBeString();
  });

  it("sampleAnswers needs a seed and resolves to the texts", () => {
    expectTypeOf(sampleAnswers).parameter(0).toEqualTypeOf<ChatModel>();
    expectTypeOf(sampleAnswers).returns.resolves.toEqualTypeOf<string[]>();
    // @ts-expect-error no seed: answers would not be reproducible
    sampleAnswers({} as ChatModel, [], 2, { temperature: 1 });
  });
});
