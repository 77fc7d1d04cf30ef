import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/io.ts", "src/parquet.ts", "src/hub.ts"],
  // shared chunks in both formats: the root and `./io` hold one copy of the error classes and the temp registry
  splitting: true,
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: false, // the dist JS is unminified; maps (with sources inlined) doubled the installed size
  target: "node20",
});
