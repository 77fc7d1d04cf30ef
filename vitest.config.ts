import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: ["packages/*", "scripts/vitest.config.ts", "scripts/vitest.scripts.config.ts", "scripts/vitest.types.config.ts"],
    reporters: process.env.CI ? ["default"] : ["default"],
  },
});
