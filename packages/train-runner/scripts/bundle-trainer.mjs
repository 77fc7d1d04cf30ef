// Copies the trainer's Python sources into this package before `npm pack`/`publish`, so an installed
// @sfmed/train-runner can build the trainer environment without an sfmed checkout (see trainerDir()).
// `--remove` (postpack) deletes the copy again: trainerDir() prefers it, so a copy left in a checkout would
// shadow later edits to trainer-py.
import { cpSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.resolve(here, "../../../trainer-py");
const dst = path.resolve(here, "../trainer");
rmSync(dst, { recursive: true, force: true });
if (process.argv.includes("--remove")) process.exit(0);
cpSync(src, dst, {
  recursive: true,
  filter: (p) => !/(__pycache__|\.pytest_cache|\.egg-info|[\\/]tests[\\/]|[\\/]bench[\\/])/.test(p + path.sep),
});
console.error(`bundled ${src} → ${dst}`);
