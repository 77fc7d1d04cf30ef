import { MessageSchema, MetaSchema } from "@sfmed/schema";
import { z } from "zod";

/** One prompt with the N responses sampled for it: the input of judge voting. */
export const CandidateSetSchema = z.object({
  id: z.string().min(1, "id must be a non-empty string"),
  source: z.string().optional(),
  prompt: z.array(MessageSchema).min(1, "prompt needs at least one message"),
  responses: z.array(z.string()).min(2, "a vote needs at least two responses").max(26, "at most 26 responses can be labelled"),
  meta: MetaSchema.optional(),
});
export type CandidateSet = z.infer<typeof CandidateSetSchema>;
