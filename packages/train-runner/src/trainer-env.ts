import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { TrainerEnvError } from "./errors.js";

const run = promisify(execFile);

/**
 * Where the trainer's Python sources live: `SFMED_TRAINER_DIR`, else the copy bundled in this package
 * (`trainer/`, added when the package is packed), else `trainer-py/` of the monorepo this file sits in.
 * @throws TrainerEnvError when none is found.
 */
export function trainerDir(): string {
  const env = process.env.SFMED_TRAINER_DIR;
  if (env) {
    if (!existsSync(path.join(env, "pyproject.toml"))) throw new TrainerEnvError(`SFMED_TRAINER_DIR=${env} holds no pyproject.toml`, "point SFMED_TRAINER_DIR at the trainer-py folder");
    return env;
  }
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const cand of [path.join(dir, "trainer"), path.join(dir, "trainer-py")]) {
      if (existsSync(path.join(cand, "pyproject.toml")) && existsSync(path.join(cand, "sfmed_trainer"))) return cand;
    }
    dir = path.dirname(dir);
  }
  throw new TrainerEnvError("cannot find the trainer sources (trainer-py)", "set SFMED_TRAINER_DIR to the trainer-py folder of an sfmed checkout");
}

export interface PythonInfo {
  executable: string;
  version: [number, number, number];
}

/** Find a Python ≥ 3.10 (and < 3.13, the versions the pinned torch supports). */
export async function findPython(candidates?: string[]): Promise<PythonInfo> {
  const list = candidates ?? [process.env.SFMED_PYTHON, "python3", "python"].filter((x): x is string => Boolean(x));
  const seen: string[] = [];
  for (const exe of list) {
    try {
      const { stdout } = await run(exe, ["-c", "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"], { timeout: 20_000 });
      const [executable, ver] = stdout.trim().split("\n");
      const version = ver!.split(".").map(Number) as [number, number, number];
      if (version[0] === 3 && version[1] >= 10 && version[1] < 13) return { executable: executable!, version };
      seen.push(`${exe} is Python ${ver}`);
    } catch {
      seen.push(`${exe} not found`);
    }
  }
  throw new TrainerEnvError(
    `no usable Python for the trainer (${seen.join("; ")})`,
    "install Python 3.10–3.12 (e.g. `apt-get install python3.11 python3.11-venv`, or pyenv) and/or set SFMED_PYTHON to its path",
  );
}

export interface TrainerEnv {
  /** The venv's python: pass it as `python` to runJob/startServer. */
  python: string;
  venv: string;
  trainerDir: string;
}

/**
 * Create or reuse the trainer's virtual environment (cached under `~/.cache/sfmed`, keyed by the hash of
 * `requirements.lock`; `SFMED_TRAINER_VENV` overrides the place), install the pinned packages and verify the
 * import. Fast when cached. The trainer sources are put on PYTHONPATH by `trainerPythonEnv`.
 * @throws TrainerEnvError with the fix when Python is missing or the install fails.
 */
export async function ensureTrainerEnv(opts: { python?: string; onLog?: (line: string) => void } = {}): Promise<TrainerEnv> {
  const dir = trainerDir();
  const py = await findPython(opts.python ? [opts.python] : undefined);
  const script = path.join(dir, "scripts", "ensure-env.sh");
  const venv = await new Promise<string>((resolve, reject) => {
    const child = spawn("bash", [script], { env: { ...process.env, SFMED_PYTHON: py.executable }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
      for (const l of c.toString().split("\n")) if (l.trim()) opts.onLog?.(l);
    });
    child.on("error", (e) => reject(new TrainerEnvError(`cannot run ${script}: ${e.message}`, "install bash, or create the venv by hand from trainer-py/requirements.lock and set SFMED_TRAINER_VENV", { cause: e })));
    child.on("close", (code) => {
      if (code === 0) resolve(out.trim().split("\n").pop()!);
      else reject(new TrainerEnvError(`building the trainer environment failed (exit ${code}): ${err.trim().split("\n").slice(-3).join(" | ")}`, "check network access to PyPI and free disk space (~4 GB), then run `npm run trainer-env`"));
    });
  });
  const python = path.join(venv, "bin", "python");
  if (!existsSync(python)) throw new TrainerEnvError(`the trainer environment at ${venv} has no bin/python`, `delete ${venv} and run again`);
  return { python, venv, trainerDir: dir };
}

/** Environment variables that make `python -m sfmed_trainer` importable from the trainer sources. */
export function trainerPythonEnv(env: TrainerEnv): Record<string, string> {
  const pp = process.env.PYTHONPATH;
  return { PYTHONPATH: pp ? `${env.trainerDir}${path.delimiter}${pp}` : env.trainerDir };
}
