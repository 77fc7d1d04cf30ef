// The "scripts" vitest project: tests of the repository's own tooling scripts.
import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "scripts", include: ["*.test.ts"], exclude: ["doc-tests.test.ts"] },
});
