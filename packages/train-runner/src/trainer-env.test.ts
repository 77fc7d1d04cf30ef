import { writeFile, chmod } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { findPython } from "./trainer-env.js";

describe("findPython", () => {
  it("finds this machine's python3", async () => {
    const py = await findPython(["python3"]);
    expect(py.version[0]).toBe(3);
    expect(py.version[1]).toBeGreaterThanOrEqual(10);
  });

  it("gives one clear error with the fix when Python is missing or too old", async () => {
    const dir = await tempDir();
    const old = path.join(dir, "python-old");
    await writeFile(old, "#!/bin/sh\necho /usr/bin/python2.7\necho 2.7.18\n");
    await chmod(old, 0o755);
    const err = (await findPython([path.join(dir, "missing-python"), old]).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: "TrainerEnvError" });
    expect(err.message).toContain("missing-python not found");
    expect(err.message).toContain("is Python 2.7.18");
    expect(err.message).toMatch(/fix: install Python 3\.10/);
  });
});
