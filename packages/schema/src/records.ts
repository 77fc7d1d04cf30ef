import { z } from "zod";

/** Option letters used by multiple-choice questions (CMExam has up to E; some banks go further). */
export const LETTERS = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"] as const;
export const LetterSchema = z.enum(LETTERS);
export type Letter = z.infer<typeof LetterSchema>;

export const RoleSchema = z.enum(["system", "user", "assistant"]);
export type Role = z.infer<typeof RoleSchema>;

export const MetaSchema = z.record(z.string(), z.unknown());
export type Meta = z.infer<typeof MetaSchema>;

export const MessageSchema = z.object({
  role: RoleSchema,
  content: z.string(),
});
export type Message = z.infer<typeof MessageSchema>;

const id = z.string().min(1, "id must be a non-empty string");

/**
 * A single- or multi-turn SFT sample. Rules real data needs: at most one system message and only first;
 * at least one user and one assistant turn; user and assistant alternate, starting with the user.
 */
export const DialogueSchema = z
  .object({
    id,
    source: z.string().optional(),
    messages: z.array(MessageSchema).min(2, "a dialogue needs at least a user and an assistant message"),
    meta: MetaSchema.optional(),
  })
  .superRefine((d, ctx) => {
    const msgs = d.messages;
    let start = 0;
    if (msgs[0]?.role === "system") start = 1;
    for (let i = start; i < msgs.length; i++) {
      const m = msgs[i]!;
      const want = (i - start) % 2 === 0 ? "user" : "assistant";
      if (m.role !== want) {
        ctx.addIssue({
          code: "custom",
          path: ["messages", i, "role"],
          message: m.role === "system" ? "a system message may only come first" : `expected "${want}" (turns alternate user/assistant)`,
        });
        return;
      }
    }
    if (msgs.length - start < 2) {
      ctx.addIssue({ code: "custom", path: ["messages"], message: "a dialogue needs at least a user and an assistant message" });
    }
  });
export type Dialogue = z.infer<typeof DialogueSchema>;

/** A pre-training document, or any text to deduplicate. */
export const TextDocSchema = z.object({
  id,
  source: z.string().optional(),
  text: z.string(),
  meta: MetaSchema.optional(),
});
export type TextDoc = z.infer<typeof TextDocSchema>;

/** One score per reward model, in the same model order for `chosen` and `rejected`. */
export const PairScoresSchema = z
  .object({
    chosen: z.array(z.number()),
    rejected: z.array(z.number()),
    models: z.array(z.string()).optional(),
  })
  .refine((s) => s.chosen.length === s.rejected.length, {
    message: "scores.chosen and scores.rejected must have one entry per model",
    path: ["rejected"],
  });
export type PairScores = z.infer<typeof PairScoresSchema>;

export const PreferencePairSchema = z.object({
  id,
  source: z.string().optional(),
  prompt: z.array(MessageSchema).min(1, "prompt needs at least one message"),
  chosen: z.string(),
  rejected: z.string(),
  scores: PairScoresSchema.optional(),
  /** Preference margin for margin-aware reward/DPO losses. */
  margin: z.number().optional(),
  meta: MetaSchema.optional(),
});
export type PreferencePair = z.infer<typeof PreferencePairSchema>;

export const ChoiceQuestionSchema = z
  .object({
    id,
    source: z.string().optional(),
    subject: z.string().optional(),
    question: z.string().min(1),
    /** Option text by letter; any subset of A–J (zod 4's `z.record` over an enum would demand all ten). */
    options: z.partialRecord(LetterSchema, z.string()),
    /** Sorted, distinct letters; more than one for multi-answer questions. */
    answer: z.array(LetterSchema).min(1, "answer needs at least one letter"),
    explanation: z.string().optional(),
    meta: MetaSchema.optional(),
  })
  .superRefine((q, ctx) => {
    const keys = Object.keys(q.options);
    if (keys.length < 2) ctx.addIssue({ code: "custom", path: ["options"], message: "a question needs at least two options" });
    for (const [i, a] of q.answer.entries()) {
      if (!(a in q.options)) ctx.addIssue({ code: "custom", path: ["answer", i], message: `answer "${a}" is not one of the options ${keys.join("")}` });
    }
    if (new Set(q.answer).size !== q.answer.length) ctx.addIssue({ code: "custom", path: ["answer"], message: "answer letters must be distinct" });
  });
export type ChoiceQuestion = z.infer<typeof ChoiceQuestionSchema>;

/** An open question with a reference answer (ROUGE-L and judge targets). */
export const ReferenceQASchema = z.object({
  id,
  source: z.string().optional(),
  prompt: z.array(MessageSchema).min(1),
  reference: z.string(),
  meta: MetaSchema.optional(),
});
export type ReferenceQA = z.infer<typeof ReferenceQASchema>;

/** A model's output for the record with the same `id`. */
export const PredictionSchema = z.object({
  id,
  model: z.string().min(1),
  output: z.string(),
  meta: MetaSchema.optional(),
});
export type Prediction = z.infer<typeof PredictionSchema>;

/** The record kinds by their CLI names (`sfmed validate --schema NAME`). */
export const recordSchemas = {
  dialogue: DialogueSchema,
  doc: TextDocSchema,
  pair: PreferencePairSchema,
  choice: ChoiceQuestionSchema,
  qa: ReferenceQASchema,
  prediction: PredictionSchema,
} as const;
export type RecordKind = keyof typeof recordSchemas;
export type RecordOf<K extends RecordKind> = z.infer<(typeof recordSchemas)[K]>;
