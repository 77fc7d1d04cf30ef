import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { checkOutputPaths, isInside, PathCollisionError, resolveRealPath } from "./output-paths.js";

const segment = fc.stringMatching(/^[a-zA-Z0-9_一-龥-]{1,8}$/).filter((s) => s !== "." && s !== "..");

/** Spellings of the same path: `./x`, `x/`, `d/../x`, doubled slashes. */
function variants(rel: string, dir: string): string[] {
  return [
    path.join(dir, rel),
    `${path.join(dir, rel)}/`,
    path.join(dir, ".", rel),
    `${dir}/./${rel}`,
    `${dir}//${rel}`,
    path.join(dir, "zz-not-there", "..", rel),
  ];
}

function collides(inputs: Record<string, string>, outputs: Record<string, string>): PathCollisionError | undefined {
  try {
    checkOutputPaths({ inputs, outputs });
    return undefined;
  } catch (e) {
    if (e instanceof PathCollisionError) return e;
    throw e;
  }
}

function collidesMany(inputs: string[], rejects: string): PathCollisionError | undefined {
  try {
    checkOutputPaths({ inputs: { "<input>": inputs }, outputs: { "--rejects": rejects } });
    return undefined;
  } catch (e) {
    if (e instanceof PathCollisionError) return e;
    throw e;
  }
}

describe("checkOutputPaths", () => {
  test.prop([fc.array(segment, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.nat(5), fc.nat(5)])(
    "any spelling of a path collides with any other spelling, existing or not",
    async (parts, exists, i, j) => {
      const dir = await tempDir();
      const rel = path.join(...parts);
      if (exists) {
        await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
        await writeFile(path.join(dir, rel), "x");
      }
      const v = variants(rel, dir);
      const e = collides({ "<input>": v[i]! }, { "-o": v[j]! });
      expect(e?.flags).toEqual(["-o", "<input>"]);
      expect(e?.code).toBe("EPATHCOLLISION");
      expect(e?.message).toContain("-o and <input>");
      // two outputs collide with each other too
      expect(collides({}, { "-o": v[i]!, "--rejects": v[j]! })?.flags).toEqual(["--rejects", "-o"]);
    },
  );

  test.prop([fc.uniqueArray(segment, { minLength: 2, maxLength: 4, selector: (s) => s.toLowerCase() })])("distinct files never collide", async (names) => {
    const dir = await tempDir();
    for (const n of names.slice(1)) await writeFile(path.join(dir, n), "x");
    const [out, ...ins] = names.map((n) => path.join(dir, n));
    expect(() => checkOutputPaths({ inputs: { "<input>": ins }, outputs: { "-o": out } })).not.toThrow();
  });

  it("a symlink to the input, or a file under a symlinked folder, is the input", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "real"));
    await writeFile(path.join(dir, "real", "in.jsonl"), "{}\n");
    await symlink(path.join(dir, "real", "in.jsonl"), path.join(dir, "link.jsonl"));
    await symlink(path.join(dir, "real"), path.join(dir, "alias"));
    expect(collides({ "<input>": path.join(dir, "real", "in.jsonl") }, { "-o": path.join(dir, "link.jsonl") })?.flags).toEqual(["-o", "<input>"]);
    expect(collidesMany([path.join(dir, "a.jsonl"), path.join(dir, "alias", "in.jsonl")], path.join(dir, "real", "in.jsonl"))?.paths).toEqual([
      path.join(dir, "real", "in.jsonl"),
      path.join(dir, "alias", "in.jsonl"),
    ]);
    // a not-yet-written output under the symlinked folder resolves through it
    expect(resolveRealPath(path.join(dir, "alias", "new", "out.jsonl"))).toBe(path.join(resolveRealPath(dir), "real", "new", "out.jsonl"));
  });

  it("skips stdio and unset flags", () => {
    expect(() => checkOutputPaths({ inputs: { "<input>": "-", "--x": undefined }, outputs: { "-o": "-", "--report": undefined } })).not.toThrow();
  });
});

describe("isInside", () => {
  it("is true for the folder itself and anything below, false for siblings with a common prefix", async () => {
    const dir = await tempDir();
    expect(isInside(dir, dir)).toBe(true);
    expect(isInside(`${dir}/`, path.join(dir, "a", "b"))).toBe(true);
    expect(isInside(path.join(dir, "a"), path.join(dir, "ab"))).toBe(false);
    expect(isInside(path.join(dir, "a"), path.join(dir, "a", "..", "b"))).toBe(false);
  });
});
