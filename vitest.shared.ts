// Shared vitest settings: resolve sibling packages from source (the "@sfmed/source" export condition),
// so tests and typecheck never need a build of the packages they import.
import { defineProject } from "vitest/config";

export const sourceConditions = ["@sfmed/source", "import", "module", "node", "default"];

export function sfmedProject(name: string, extra: { testTimeout?: number; pool?: "forks" | "threads" } = {}) {
  return defineProject({
    resolve: { conditions: sourceConditions },
    ssr: { resolve: { conditions: sourceConditions } },
    test: {
      name,
      include: ["src/**/*.test.ts", "test/**/*.test.ts"],
      testTimeout: extra.testTimeout ?? 30_000,
      ...(extra.pool ? { pool: extra.pool } : {}),
    },
  });
}
