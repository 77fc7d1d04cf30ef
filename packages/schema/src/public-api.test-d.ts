// Type tests of the public API (vitest project "types"): what callers rely on at compile time.
import { describe, expectTypeOf, it } from "vitest";
import {
  type CheckpointError,
  type ChoiceQuestion,
  type Dialogue,
  hashFile,
  isBadRow,
  isSchemaError,
  type Letter,
  type LocatedRecord,
  type MissingPeerError,
  type ParseError,
  type PathCollisionError,
  type PreferencePair,
  type Prediction,
  type RecordKind,
  type RecordOf,
  type ReferenceQA,
  type RowItem,
  readRecords,
  type SchemaError,
  seededRandom,
  type TextDoc,
  type ValidationError,
} from "@sfmed/schema";

describe("record kinds", () => {
  it("RecordKind names the six record schemas, and RecordOf maps each to its record type", () => {
    expectTypeOf<RecordKind>().toEqualTypeOf<"dialogue" | "doc" | "pair" | "choice" | "qa" | "prediction">();
    expectTypeOf<RecordOf<"dialogue">>().toEqualTypeOf<Dialogue>();
    expectTypeOf<RecordOf<"doc">>().toEqualTypeOf<TextDoc>();
    expectTypeOf<RecordOf<"pair">>().toEqualTypeOf<PreferencePair>();
    expectTypeOf<RecordOf<"choice">>().toEqualTypeOf<ChoiceQuestion>();
    expectTypeOf<RecordOf<"qa">>().toEqualTypeOf<ReferenceQA>();
    expectTypeOf<RecordOf<"prediction">>().toEqualTypeOf<Prediction>();
  });

  it("readRecords narrows its records by `kind`, and yields unknown without one", () => {
    expectTypeOf(readRecords("x.jsonl", { kind: "pair" })).toEqualTypeOf<AsyncGenerator<LocatedRecord<PreferencePair>>>();
    expectTypeOf(readRecords("x.jsonl", { kind: "dialogue", onInvalid: "skip" })).toEqualTypeOf<AsyncGenerator<LocatedRecord<Dialogue>>>();
    expectTypeOf(readRecords("x.jsonl")).toEqualTypeOf<AsyncGenerator<LocatedRecord<unknown>>>();
    // @ts-expect-error: not a record kind
    readRecords("x.jsonl", { kind: "dialog" });
  });

  it("record fields keep their literal unions", () => {
    expectTypeOf<Dialogue["messages"][number]["role"]>().toEqualTypeOf<"system" | "user" | "assistant">();
    expectTypeOf<ChoiceQuestion["answer"]>().toEqualTypeOf<Letter[]>();
    expectTypeOf<Letter>().toEqualTypeOf<"A" | "B" | "C" | "D" | "E" | "F" | "G" | "H" | "I" | "J">();
  });

  it("isBadRow narrows a RowItem to a bad row with its error", () => {
    const row = {} as RowItem;
    if (isBadRow(row)) expectTypeOf(row.error).toEqualTypeOf<SchemaError>();
    else expectTypeOf(row.value).toBeUnknown();
  });
});

describe("errors", () => {
  it("each class has a literal `name`, so checks by name narrow across package copies", () => {
    expectTypeOf<ValidationError["name"]>().toEqualTypeOf<"ValidationError">();
    expectTypeOf<ParseError["name"]>().toEqualTypeOf<"ParseError">();
    expectTypeOf<CheckpointError["name"]>().toEqualTypeOf<"CheckpointError">();
    expectTypeOf<PathCollisionError["name"]>().toEqualTypeOf<"PathCollisionError">();
    expectTypeOf<MissingPeerError["name"]>().toEqualTypeOf<"MissingPeerError">();
    expectTypeOf<ValidationError>().toExtend<SchemaError>();
    expectTypeOf<SchemaError["code"]>().toEqualTypeOf<string>();
    expectTypeOf<SchemaError["line"]>().toEqualTypeOf<number | undefined>();
    expectTypeOf(isSchemaError).guards.toEqualTypeOf<SchemaError>();
  });
});

describe("IO primitives", () => {
  it("seededRandom and hashFile", () => {
    expectTypeOf(seededRandom).toEqualTypeOf<(seed: number) => () => number>();
    expectTypeOf(hashFile).returns.toEqualTypeOf<Promise<string>>();
  });
});
