import { defineConfig } from "tsup";

export default defineConfig({
  // the worker is its own entry: merge-pool.ts starts dist/merge-worker.js beside the bundle
  entry: ["src/index.ts", "src/merge-worker.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: false, // the dist JS is unminified; maps (with sources inlined) doubled the installed size
  target: "node20",
  shims: true,
});
