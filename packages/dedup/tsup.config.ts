import { defineConfig } from "tsup";

export default defineConfig({
  // the worker is its own entry: signature-pool.ts starts dist/signature-worker.js beside the bundle
  entry: ["src/index.ts", "src/signature-worker.ts", "src/sharded.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: false, // the dist JS is unminified; maps (with sources inlined) doubled the installed size
  target: "node20",
  shims: true,
});
