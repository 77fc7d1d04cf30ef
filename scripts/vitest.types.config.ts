// The "types" vitest project: the public API type tests (`packages/*/src/**/*.test-d.ts`, expectTypeOf), checked
// by one tsc run in vitest's typecheck mode. `npx vitest run --project types`; part of `vitest run`/`npm test`.
// The package tsconfigs include src/, so `npm run typecheck` compiles the same files too.
import path from "node:path";
import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "types",
    dir: path.resolve(import.meta.dirname, ".."),
    include: [],
    typecheck: {
      enabled: true,
      only: true,
      include: ["packages/*/src/**/*.test-d.ts"],
      tsconfig: path.resolve(import.meta.dirname, "..", "tsconfig.test-d.json"),
      // Errors in the sources themselves are `npm run typecheck`'s to report (per package); this project reports the tests.
      ignoreSourceErrors: true,
    },
  },
});
