import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: false, // the dist JS is unminified; maps (with sources inlined) doubled the installed size
  target: "node20",
});
