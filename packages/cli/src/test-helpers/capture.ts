import { vi } from "vitest";
import { runCli } from "../run.js";

/** Run the CLI in-process with stdout and stderr captured (for tests). */
export async function capture(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const err: string[] = [];
  const out: string[] = [];
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
  try {
    const code = await runCli(argv);
    return { code, stderr: err.join(""), stdout: out.join("") };
  } finally {
    e.mockRestore();
    o.mockRestore();
  }
}
