import { ValidationError } from "../errors.js";
import { recordSchemas, type Dialogue, type PreferencePair, type RecordKind, type ReferenceQA, type TextDoc } from "../records.js";
import { validateRecord } from "../validate.js";
import { alpaca, ExportError, toAlpaca } from "./alpaca.js";
import { ceval } from "./ceval.js";
import { cmbClin } from "./cmb-clin.js";
import { cmbExam } from "./cmb-exam.js";
import { cmexam } from "./cmexam.js";
import { cmmlu } from "./cmmlu.js";
import { cmtmedqa } from "./cmtmedqa.js";
import { defineConverter, type Converter } from "./converter.js";
import { huatuo26m } from "./huatuo26m.js";
import { llamaFactory } from "./llama-factory.js";
import { medicalgptReward } from "./medicalgpt-reward.js";
import { pharmacistExam } from "./pharmacist-exam.js";
import { sharegpt, toShareGpt } from "./sharegpt.js";
import { toyhom } from "./toyhom.js";
import { webmedqa } from "./webmedqa.js";

/** Every converter by its CLI name (`sfmed convert --from NAME`). */
export const converters = {
  alpaca,
  sharegpt,
  "llama-factory": llamaFactory,
  huatuo26m,
  cmtmedqa,
  toyhom,
  cmexam,
  cmmlu,
  ceval,
  "medicalgpt-reward": medicalgptReward,
  "cmb-clin": cmbClin,
  "cmb-exam": cmbExam,
  "pharmacist-exam": pharmacistExam,
  webmedqa,
} as const satisfies Record<string, Converter>;

export type ConverterName = keyof typeof converters;

const canonical = new Map<RecordKind, Converter>();

/**
 * A converter that reads canonical records of one kind (JSONL/JSON/CSV files already in our schema) and
 * validates them; handy to re-export canonical files, e.g. Dialogues to Alpaca.
 */
export function canonicalConverter<K extends RecordKind>(kind: K): Converter<K> {
  let c = canonical.get(kind);
  if (!c) {
    c = defineConverter({ name: kind, kind, description: `canonical ${kind} records`, map: (value) => value });
    canonical.set(kind, c);
  }
  return c as Converter<K>;
}

/**
 * Look a converter up by name; a record kind (`dialogue`, `pair`, …) gives {@link canonicalConverter}.
 *
 * @throws {ValidationError} naming the known converters
 */
export function getConverter(name: string): Converter {
  const c = (converters as Record<string, Converter>)[name];
  if (c) return c;
  if (name in recordSchemas) return canonicalConverter(name as RecordKind);
  throw new ValidationError(`unknown format "${name}"; known: ${Object.keys(converters).join(", ")} (or a record kind: ${Object.keys(recordSchemas).join(", ")})`);
}

/** Writes canonical records in another shape. */
export interface Exporter {
  readonly name: string;
  /** Record kinds it can write. */
  readonly kinds: readonly RecordKind[];
  readonly description: string;
  /** @throws {ExportError} when the record cannot be expressed in this format */
  export(record: unknown, kind: RecordKind): unknown;
}

/** Every exporter by its CLI name (`sfmed convert --to NAME`). */
export const exporters = {
  alpaca: {
    name: "alpaca",
    kinds: ["dialogue", "pair"],
    description: "Alpaca rows; pairs in LLaMA-Factory's ranking style (chosen/rejected)",
    export: (r: unknown) => toAlpaca(r as Dialogue | PreferencePair),
  },
  sharegpt: {
    name: "sharegpt",
    kinds: ["dialogue", "pair"],
    description: "ShareGPT rows (system at the top level); pairs with chosen/rejected turns",
    export: (r: unknown) => toShareGpt(r as Dialogue | PreferencePair),
  },
  trainer: {
    name: "trainer",
    kinds: ["dialogue", "pair", "doc"],
    description: "the trainer's JSONL: canonical Dialogue / PreferencePair / TextDoc records, validated",
    export: (r: unknown, kind: RecordKind) => validateRecord(kind, r),
  },
  qa: {
    name: "qa",
    kinds: ["dialogue"],
    description: "ReferenceQA records (evaluation sets): the dialogue up to its last answer is the prompt, that answer the reference",
    export: (r: unknown, kind: RecordKind) => toReferenceQA(r, kind),
  },
  text: {
    name: "text",
    kinds: ["dialogue", "pair", "qa", "doc"],
    description: "TextDoc records (pre-training text): a record's messages and answers joined by newlines",
    export: (r: unknown, kind: RecordKind) => toTextDoc(r, kind),
  },
} as const satisfies Record<string, Exporter>;

/**
 * A dialogue as an evaluation item: everything before the last assistant turn is the prompt (multi-turn history
 * included, as CMtMedQA is scored), the last assistant turn is the reference.
 *
 * @throws {ExportError} when the dialogue does not end with an assistant turn
 */
export function toReferenceQA(r: unknown, kind: RecordKind): ReferenceQA {
  const d = validateRecord(kind, r) as Dialogue;
  const last = d.messages[d.messages.length - 1];
  if (!last || last.role !== "assistant" || d.messages.length < 2) throw new ExportError("a reference answer needs a dialogue that ends with an assistant turn", d.id);
  return {
    id: d.id,
    ...(d.source !== undefined ? { source: d.source } : {}),
    prompt: d.messages.slice(0, -1),
    reference: last.content,
    ...(d.meta !== undefined ? { meta: d.meta } : {}),
  };
}

/** Flatten a record into a TextDoc for continued pre-training (the contents only, no role markers). */
export function toTextDoc(r: unknown, kind: RecordKind): TextDoc {
  const rec = validateRecord(kind, r) as { id: string; source?: string };
  const src = rec.source !== undefined ? { source: rec.source } : {};
  if (kind === "doc") return rec as TextDoc;
  if (kind === "dialogue") return { id: rec.id, ...src, text: (r as Dialogue).messages.map((m) => m.content).join("\n") };
  if (kind === "pair") {
    const p = r as PreferencePair;
    return { id: rec.id, ...src, text: [...p.prompt.map((m) => m.content), p.chosen].join("\n") };
  }
  const q = r as ReferenceQA;
  return { id: rec.id, ...src, text: [...q.prompt.map((m) => m.content), q.reference].join("\n") };
}

export type ExporterName = keyof typeof exporters;

/** Look an exporter up by name. @throws {ValidationError} naming the known exporters */
export function getExporter(name: string): Exporter {
  const e = (exporters as Record<string, Exporter>)[name];
  if (!e) throw new ValidationError(`unknown export format "${name}"; known: ${Object.keys(exporters).join(", ")}`);
  return e;
}

/**
 * Map records through an exporter.
 *
 * @throws {ExportError} when the exporter does not take records of `kind`, or a record cannot be expressed
 */
export async function* exportRecords(records: AsyncIterable<unknown> | Iterable<unknown>, opts: { to: string; kind: RecordKind }): AsyncGenerator<unknown> {
  const exporter = getExporter(opts.to);
  if (!exporter.kinds.includes(opts.kind)) throw new ExportError(`"${exporter.name}" does not take ${opts.kind} records (only ${exporter.kinds.join(", ")})`, undefined);
  for await (const r of records) yield exporter.export(r, opts.kind);
}
