#!/usr/bin/env node
// The `sfmed` command. A committed shim (so npm can link it before anything is built) that loads the built CLI.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const built = new URL("../dist/bin.js", import.meta.url);
if (!existsSync(fileURLToPath(built))) {
  process.stderr.write("sfmed: the CLI is not built yet; run `npm run build` in the sfmed checkout first\n");
  process.exitCode = 1;
} else {
  await import(built.href);
}
