import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (where the root package.json lives). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** Absolute path of a committed sample file under `data/samples/` (see data/samples/SOURCES.md). */
export function samplePath(rel: string): string {
  const p = path.join(repoRoot, "data", "samples", rel);
  if (!existsSync(p)) throw new Error(`sample file missing: data/samples/${rel}`);
  return p;
}

export function readSample(rel: string): string {
  return readFileSync(samplePath(rel), "utf8");
}

/**
 * The full data sets beside the checkout (`../shared/data`), present on developer machines and in CI but not in
 * a user's clone. Tests must not depend on it; benchmarks may. Returns undefined when absent.
 */
export function sharedDataDir(): string | undefined {
  const p = process.env.SFMED_SHARED_DATA ?? path.resolve(repoRoot, "..", "shared", "data");
  return existsSync(p) ? p : undefined;
}
