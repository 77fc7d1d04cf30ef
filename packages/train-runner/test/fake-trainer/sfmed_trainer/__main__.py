"""A stand-in for the real trainer that speaks the same event protocol; used to test the runner's process
handling (events, logs, failures, SIGINT) in milliseconds. Behaviour comes from the job's "fake" key."""
import json, os, signal, sys, time


def emit(**e):
    sys.stdout.write(json.dumps({"v": 1, **e}) + "\n")
    sys.stdout.flush()


def run(job_path):
    job = json.load(open(job_path))
    mode = job.get("fake", "ok")
    out = job["output_dir"]
    start = int(os.path.basename(job["resume_from"]).split("-")[-1]) if job.get("resume_from") else 0
    total = int(job.get("fake_steps", 6))
    # SFMED_FAKE_SLEEP overrides the pause per step without changing the job (a pipeline's cache key).
    pause = float(os.environ.get("SFMED_FAKE_SLEEP", job.get("fake_sleep", 0.2 if mode == "slow" else 0)))
    emit(event="start", stage=job["stage"], total_steps=total, resumed_from=job.get("resume_from"))
    print("loading tiny model", file=sys.stderr)
    print("a stray print on stdout")
    if mode == "crash":
        sys.exit(3)
    if mode == "fail":
        emit(event="error", type="ValueError", message="data file missing: x.jsonl", traceback="Traceback ...")
        sys.exit(1)
    stop = {"now": 0}
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _f: stop.update(now=stop["now"] or signum))
    step = start
    while step < total:
        step += 1
        emit(event="step", step=step, epoch=step / total, loss=2.0 / step, lr=1e-4, grad_norm=1.0, tokens_per_s=100.0)
        if pause:
            time.sleep(pause)
        if mode == "crash_once" and not job.get("resume_from") and step == 3:
            ck = os.path.join(out, "checkpoint-3")
            os.makedirs(ck, exist_ok=True)
            emit(event="checkpoint", path=ck, step=step)
            sys.exit(1)  # a crash after a checkpoint; a resumed run goes on
        if stop["now"]:
            ck = os.path.join(out, f"checkpoint-{step}")
            os.makedirs(ck, exist_ok=True)
            emit(event="checkpoint", path=ck, step=step)
            emit(event="done", interrupted=True, output_dir=out)
            return 128 + stop["now"]  # like trainer-py: 130 after SIGINT, 143 after SIGTERM
    ck = os.path.join(out, f"checkpoint-{step}")
    os.makedirs(ck, exist_ok=True)
    emit(event="checkpoint", path=ck, step=step, best=True)
    emit(event="done", interrupted=False, output_dir=out, metrics={"train_loss": 2.0 / step, "start_step": start})
    return 0


def serve(argv):
    import http.server, threading
    host = argv[argv.index("--host") + 1]
    port = int(argv[argv.index("--port") + 1])
    if "--fail" in argv:
        sys.exit(2)

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer((host, port), H)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    emit(event="ready", url=f"http://{host}:{srv.server_address[1]}")
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    sys.exit(run(sys.argv[2]) if cmd == "run" else serve(sys.argv[2:]))
