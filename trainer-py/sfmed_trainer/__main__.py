"""CLI: `python -m sfmed_trainer run JOB.json` | `validate JOB.json` | `serve CHECKPOINT [...]` | `schema`."""

from __future__ import annotations

import argparse
import signal
import sys

from .events import Events, log


def claim_stdout():
    """Keep stdout for events alone: events get a private copy of fd 1, and fd 1 itself is pointed at stderr,
    so whatever a library prints there (DeepSpeed's import banner, C++ extension builds, transformers' log
    printer) lands with the human logs instead of corrupting the JSON-lines stream."""
    import os

    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(fd, "w", buffering=1, encoding="utf-8")


_group_closed = False


def _close_process_group() -> None:
    """After a successful multi-rank run: wait for every rank, then tear the group down. Leaving gloo to the
    interpreter's exit let one rank's teardown race another's last collective (an occasional SIGABRT)."""
    global _group_closed
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
        _group_closed = True


def _exit(rc: int) -> None:
    """Leave with `rc`; a rank whose group was torn down skips the interpreter's finalization
    (sharding.exit_rank). Events are written line by line and outputs renamed into place, so nothing is lost."""
    if _group_closed:
        from .sharding import exit_rank

        exit_rank(rc)
    sys.exit(rc)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m sfmed_trainer")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a job file")
    r.add_argument("job")
    v = sub.add_parser("validate", help="validate a job file and exit")
    v.add_argument("job")
    sub.add_parser("schema", help="print the job JSON Schema path")
    s = sub.add_parser("serve", help="serve a checkpoint over HTTP (OpenAI-compatible)")
    s.add_argument("checkpoint")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--gate", default=None, help="embedding-gate JSON file")
    s.add_argument("--name", default=None, help="model id (default: the checkpoint folder name)")
    # defaults live in serve.Limits (this module does not import torch)
    s.add_argument("--api-key", default=None, help="require Authorization: Bearer KEY (default: $SFMED_SERVE_API_KEY)")
    s.add_argument("--max-body-bytes", type=int, default=None, help="largest request body (default 8 MiB; 413 beyond)")
    s.add_argument(
        "--max-queue", type=int, default=None, help="requests waiting for the model (default 32; 503 beyond)"
    )
    s.add_argument(
        "--max-queue-wait", type=float, default=None, help="seconds a request may wait (default 60; then 503)"
    )
    s.add_argument("--require-model", action="store_true", help="refuse requests without `model` (as OpenAI does)")
    return ap


def main(argv: list[str] | None = None, events_out=None) -> int:
    a = parser().parse_args(argv)
    ev = Events(events_out)

    if a.cmd == "schema":
        from .config import SCHEMA_PATH

        print(SCHEMA_PATH, file=ev.out, flush=True)
        return 0
    if a.cmd in ("run", "validate"):
        return run_or_validate(a, ev)
    if a.cmd == "serve":
        from .serve import main as serve_main

        return serve_main(
            a.checkpoint,
            a.host,
            a.port,
            a.gate,
            a.name,
            ev,
            api_key=a.api_key,
            max_body_bytes=a.max_body_bytes,
            max_queue=a.max_queue,
            max_queue_wait=a.max_queue_wait,
            require_model=a.require_model,
        )
    return 2


def run_or_validate(a, ev: Events) -> int:
    """`run` or `validate` a job file: the exit code (2: a refused job, 1: a failure, 128+N: stopped by signal N)."""
    from .config import JobError, load_job

    try:
        job = load_job(a.job)
    except (JobError, OSError) as e:
        ev.error(e)
        log(f"error: {e}")
        return 2
    for w in job.warnings:
        log(f"warning: {w['message']}")
    if a.cmd == "validate":
        print('{"ok":true}', file=ev.out, flush=True)
        return 0
    from .runtime import Stop
    from .stages import run_job

    Stop.install()
    try:
        res = run_job(job, ev)
    except JobError as e:  # a rule that needed the data size (the α guard): refused before the model loads
        ev.error(e)
        log(f"error: {e}")
        return 2
    except Exception as e:  # report every failure as an event, then a non-zero exit
        ev.error(e)
        log(f"error: {type(e).__name__}: {e}")
        return 1
    _close_process_group()
    if isinstance(res, dict) and res.get("interrupted"):
        # The shell convention for a process ended by a signal (130 SIGINT, 143 SIGTERM), after the checkpoint
        # and the `done` event: schedulers (Slurm) and shells see it was stopped, not finished.
        return 128 + (Stop.signum or signal.SIGINT)
    return 0


if __name__ == "__main__":
    _exit(main(events_out=claim_stdout()))
