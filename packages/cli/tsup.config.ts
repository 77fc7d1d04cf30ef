import { defineConfig } from "tsup";

// The library entry ships ESM + CJS; the bin is ESM only (bin/sfmed.js imports dist/bin.js).
export default defineConfig([
  {
    entry: ["src/index.ts"],
    format: ["esm", "cjs"],
    dts: true,
    clean: false, // two configs share dist/: the build script empties it once, before both
    sourcemap: false, // the dist JS is unminified; maps (with sources inlined) doubled the installed size
    target: "node20",
    shims: true,
  },
  {
    entry: ["src/bin.ts"],
    format: ["esm"],
    sourcemap: false, // the dist JS is unminified; maps (with sources inlined) doubled the installed size
    target: "node20",
    shims: true,
  },
]);
