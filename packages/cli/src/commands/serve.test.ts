// `sfmed serve` against a stand-in trainer folder (SFMED_TRAINER_DIR) whose serve dies before or after it is
// ready, or serves until a signal: the command must never exit 0 when the server died, must show the server's last
// log lines, and must stop the server and exit 130/143 on SIGINT/SIGTERM.
import { spawn } from "node:child_process";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { repoRoot, tempDir } from "@sfmed/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { capture } from "../test-helpers/capture.js";

const BIN = path.join(repoRoot, "packages/cli/src/bin.ts");

const FAKE_SERVE = String.raw`
import http.server, json, os, signal, sys, threading, time

mode = os.environ.get("FAKE_SERVE_MODE", "serve")
record = os.environ.get("FAKE_SERVE_RECORD")
argv = sys.argv[1:]
if record:
    json.dump({"argv": argv, "key": os.environ.get("SFMED_SERVE_API_KEY")}, open(record, "w"))

def noise(n):
    for i in range(n):
        print("stderr line %02d" % i, file=sys.stderr, flush=True)

if mode == "die-before-ready":
    noise(30)
    sys.exit(2)
host = argv[argv.index("--host") + 1]
key = os.environ.get("SFMED_SERVE_API_KEY")

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = key is None or self.headers.get("Authorization") == "Bearer " + key
        body = json.dumps({"object": "list", "data": [{"id": "fake"}]} if ok else {"error": {}}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

srv = http.server.ThreadingHTTPServer((host, 0), H)

def stop(signum, frame):
    print("got signal %d" % signum, file=sys.stderr, flush=True)
    threading.Thread(target=srv.shutdown).start()

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
print(json.dumps({"v": 1, "event": "ready", "url": "http://%s:%d" % (host, srv.server_address[1])}), flush=True)
if mode == "die-after-ready":
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    time.sleep(1.0)
    noise(30)
    os._exit(3)
srv.serve_forever()
`;

/** A trainer folder (as SFMED_TRAINER_DIR) whose "environment" is the base Python and whose serve is FAKE_SERVE. */
async function fakeTrainer(): Promise<Record<string, string>> {
  const dir = await tempDir();
  await mkdir(path.join(dir, "scripts"));
  await mkdir(path.join(dir, "sfmed_trainer"));
  await writeFile(path.join(dir, "pyproject.toml"), '[project]\nname = "fake"\nversion = "0"\n');
  const ensure = path.join(dir, "scripts", "ensure-env.sh");
  await writeFile(ensure, '#!/usr/bin/env bash\nset -e\nv="$SFMED_TRAINER_VENV"\nmkdir -p "$v/bin"\nln -sfn "${SFMED_PYTHON:-$(command -v python3)}" "$v/bin/python"\necho "$v"\n');
  await chmod(ensure, 0o755);
  await writeFile(path.join(dir, "sfmed_trainer", "__init__.py"), "");
  await writeFile(path.join(dir, "sfmed_trainer", "__main__.py"), FAKE_SERVE);
  return { SFMED_TRAINER_DIR: dir, SFMED_TRAINER_VENV: path.join(dir, "env"), SFMED_PYTHON: process.env.SFMED_PYTHON ?? "python3" };
}

afterEach(() => vi.unstubAllEnvs());

async function inProcess(env: Record<string, string>, argv: string[]) {
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  return capture(argv);
}

describe("sfmed serve", () => {
  it("exits non-zero with the server's last 20 log lines when it dies before it is ready", async () => {
    const r = await inProcess({ ...(await fakeTrainer()), FAKE_SERVE_MODE: "die-before-ready" }, ["serve", "ckpt"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/ServerStartError: serve exited with code 2 before it was ready \(log: .*\); its last 20 log lines:/);
    expect(r.stderr).toContain("| stderr line 10");
    expect(r.stderr).toContain("| stderr line 29");
    expect(r.stderr).not.toContain("stderr line 09");
  });

  it("exits non-zero with the server's last log lines when it dies while serving", async () => {
    const r = await inProcess({ ...(await fakeTrainer()), FAKE_SERVE_MODE: "die-after-ready" }, ["serve", "ckpt"]);
    expect(r.code, JSON.stringify(r)).toBe(1);
    expect(r.stdout, JSON.stringify(r)).not.toBe("");
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ event: "ready" });
    expect(r.stderr).toMatch(/serve exited with code 3 while serving .*its last 20 log lines:/);
    expect(r.stderr).toContain("| stderr line 29");
    expect(r.stderr).not.toContain("stderr line 09");
  });

  it("refuses bad limits before starting anything", async () => {
    const env = await fakeTrainer();
    for (const bad of [["--max-queue-wait", "0"], ["--max-body-bytes", "0"], ["--max-queue", "-1"]]) {
      const r = await inProcess(env, ["serve", "ckpt", ...bad]);
      expect(r.code, bad.join(" ")).toBe(2);
      expect(r.stderr).toContain(bad[0]);
    }
  });

  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`stops the server and exits ${code} on ${signal}; the API key goes through the environment`, async () => {
      const env = await fakeTrainer();
      const record = path.join(env.SFMED_TRAINER_DIR!, "record.json");
      const child = spawn(process.execPath, ["--conditions=@sfmed/source", "--import", "tsx", BIN, "serve", "ckpt", "--api-key", "k-secret-123", "--max-queue", "3", "--max-queue-wait", "2.5"], {
        cwd: repoRoot,
        env: { ...process.env, ...env, FAKE_SERVE_RECORD: record },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      let baseURL = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      const exit = new Promise<number | null>((resolve) => child.once("close", resolve));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (c: Buffer) => {
          stdout += c.toString();
          const line = stdout.split("\n").find((l) => l.includes('"ready"'));
          if (line && !baseURL) {
            baseURL = (JSON.parse(line) as { baseURL: string }).baseURL;
            resolve();
          }
        });
        child.once("close", () => reject(new Error(`sfmed serve ended before ready: ${stderr}`)));
      });
      // ready means the server answered /v1/models with the key (the fake refuses it otherwise)
      expect((await fetch(`${baseURL}/models`, { headers: { authorization: "Bearer k-secret-123" } })).status).toBe(200);
      child.kill(signal);
      expect(await exit, stderr).toBe(code);
      expect(stderr).toContain(`InterruptedError: serve stopped by ${signal}`);
      expect(stderr).not.toContain("k-secret-123");
      await expect(fetch(`${baseURL}/models`)).rejects.toThrow(); // the server is gone too
      const seen = JSON.parse(await readFile(record, "utf8")) as { argv: string[]; key: string };
      expect(seen.key).toBe("k-secret-123");
      expect(seen.argv.join(" ")).toContain("--max-queue 3 --max-queue-wait 2.5");
      expect(seen.argv.join(" ")).not.toContain("k-secret-123");
      const log = /log (\S+)\)/.exec(stderr)![1]!;
      expect(await readFile(log, "utf8")).toContain("got signal 15"); // serve itself was asked to stop with SIGTERM
    }, 60_000);
  }
});
