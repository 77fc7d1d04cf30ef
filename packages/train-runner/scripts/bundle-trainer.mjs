// Copies the trainer's Python sources into this package before `npm pack`/`publish`, so an installed
// @sfmed/train-runner can build the trainer environment without an sfmed checkout (see trainerDir()).
import { cpSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.resolve(here, "../../../trainer-py");
const dst = path.resolve(here, "../trainer");
rmSync(dst, { recursive: true, force: true });
cpSync(src, dst, {
  recursive: true,
  filter: (p) => !/(__pycache__|\.pytest_cache|\.egg-info|[\\/]tests[\\/]|[\\/]bench[\\/])/.test(p + path.sep),
});
console.error(`bundled ${src} → ${dst}`);
