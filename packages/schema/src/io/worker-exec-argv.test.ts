import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { workerExecArgv } from "./worker-exec-argv.js";

describe("workerExecArgv", () => {
  it.each([
    [["--input-type=module", "-e", "import x from 'y'"], []],
    [["--input-type", "module", "--eval", "code"], []],
    [["--import", "tsx", "-p", "1+1"], ["--import", "tsx"]],
    [["--conditions=@sfmed/source", "--print=1", "--max-old-space-size=4096"], ["--conditions=@sfmed/source", "--max-old-space-size=4096"]],
    [["--enable-source-maps"], ["--enable-source-maps"]],
  ])("%j → %j", (argv, want) => expect(workerExecArgv(argv)).toEqual(want));

  const kept = fc.constantFrom("--import", "tsx", "--conditions=x", "--enable-source-maps", "--max-old-space-size=64", "--no-warnings");
  const entry = fc.oneof(
    fc.tuple(fc.constantFrom("-e", "--eval", "-p", "--print", "--input-type"), fc.string()).map(([f, v]) => [f, v]),
    fc.tuple(fc.constantFrom("--eval=", "--print=", "--input-type="), fc.string()).map(([f, v]) => [f + v]),
  );
  test.prop([fc.array(fc.oneof(kept.map((k) => ({ k })), entry.map((e) => ({ e }))))])(
    "keeps every other flag in order and drops every entry-code flag with its value",
    (parts) => {
      const argv = parts.flatMap((p) => ("k" in p ? [p.k] : p.e));
      expect(workerExecArgv(argv)).toEqual(parts.flatMap((p) => ("k" in p ? [p.k] : [])));
    },
  );
});
