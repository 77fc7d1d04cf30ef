import { randomBytes } from "node:crypto";
import { rename, writeFile } from "node:fs/promises";

/** Write a file atomically: a sibling temp file, then rename over the target. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}
