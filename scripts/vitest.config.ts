// The "doc-tests" vitest project: every TypeScript/JavaScript block of the package READMEs and docs/*.md.
import { defineProject } from "vitest/config";
import { sourceConditions } from "../vitest.shared.ts";

export default defineProject({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions } },
  test: { name: "doc-tests", include: ["doc-tests.test.ts"], testTimeout: 120_000 },
});
