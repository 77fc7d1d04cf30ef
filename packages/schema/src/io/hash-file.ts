import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/**
 * SHA-256 of a file's bytes (as stored: a `.gz` file hashes compressed), streamed in bounded memory. Reports
 * record input hashes with it so a run can be audited and reproduced.
 *
 * @returns lowercase hex digest
 */
export async function hashFile(file: string, algorithm = "sha256"): Promise<string> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest("hex");
}
