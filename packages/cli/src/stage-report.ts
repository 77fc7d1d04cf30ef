// The JSON report every stage command writes beside its outputs, in one shape:
//   { command, …the command's own fields (report, params, summary…), inputs: [{ file, sha256 }], seconds, createdAt }
// written atomically, so a pipeline (or a person) can tell which inputs a result came from and when.
import { atomicWrite, hashFile } from "@sfmed/schema/io";

/** An input file and the SHA-256 of its bytes. */
export interface InputDigest {
  file: string;
  sha256: string;
}

/** The CLI's one input-hashing helper: each file (local, a stdin copy or a cached Hub file) with its SHA-256. */
export function digestInputs(files: readonly string[]): Promise<InputDigest[]> {
  return Promise.all(files.map(async (file) => ({ file, sha256: await hashFile(file) })));
}

/** Pretty JSON (two-space indent, final newline) written atomically and never gzipped, whatever the name. */
export async function writeJsonFile(file: string, value: unknown): Promise<void> {
  await atomicWrite(file, [JSON.stringify(value, null, 2) + "\n"], { gzip: false });
}

export interface StageReportOptions {
  /** The subcommand, e.g. `"pref vote"`. */
  command: string;
  /** Files the stage read, hashed into `inputs` (a digest already made by {@link digestInputs} is kept as is). */
  inputs: ReadonlyArray<string | InputDigest>;
  /** `Date.now()` when the stage started; gives `seconds`. */
  started: number;
  /** The command's own fields, placed between `command` and `inputs`. */
  fields: Record<string, unknown>;
}

/** The report object: `{ command, ...fields, inputs, seconds, createdAt }`. */
export async function stageReport(o: StageReportOptions): Promise<Record<string, unknown>> {
  const inputs = await Promise.all(o.inputs.map(async (f) => (typeof f === "string" ? (await digestInputs([f]))[0]! : f)));
  return { command: o.command, ...o.fields, inputs, seconds: (Date.now() - o.started) / 1000, createdAt: new Date().toISOString() };
}

/** Build the report ({@link stageReport}) and write it atomically to `file`; returns what was written. */
export async function writeStageReport(file: string, o: StageReportOptions): Promise<Record<string, unknown>> {
  const report = await stageReport(o);
  await writeJsonFile(file, report);
  return report;
}
