#!/usr/bin/env node
import { runCli } from "./run.js";

// SIGINT/SIGTERM: a command that handles them itself (train saves a checkpoint, pipeline forwards) has its own
// listener and decides; otherwise the in-flight temp files are removed and the process ends with 130/143.
// @sfmed/schema/io is imported only then: `--version` and `--help` would otherwise pay for it.
// Any command that wrote temps has loaded it already, so the import is instant.
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const) {
  process.on(signal, () => {
    if (process.listenerCount(signal) > 1) return;
    void import("@sfmed/schema/io")
      .then(({ removeTempsNow }) => removeTempsNow())
      .finally(() => {
        process.stderr.write(`sfmed: stopped by ${signal}; outputs were not written\n`);
        process.exit(code);
      });
  });
}

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sfmed: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
