"""Session fixtures: a byte-level BPE trained here, tiny Qwen2 checkpoints (base and "SFT"), sample records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
TRAINER = Path(__file__).resolve().parents[1]


torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def sft_records(limit: int = 100) -> list[dict]:
    """medicalgpt ShareGPT → Dialogue {id, messages}."""
    from sfmed_trainer.tiny import sharegpt_dialogues

    return sharegpt_dialogues(SAMPLES / "medicalgpt" / "medical_sft_1K_format.jsonl", limit, "msft")


def pair_records(limit: int = 100) -> list[dict]:
    """medicalgpt reward pairs {question, response_chosen, response_rejected} → PreferencePair."""
    from sfmed_trainer.tiny import reward_pairs

    return reward_pairs(SAMPLES / "medicalgpt" / "test.json", limit)


def write_jsonl(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    return path


def build_tokenizer(corpus: list[str]):
    from sfmed_trainer.tiny import build_tokenizer as bt

    return bt(corpus, 512)


def build_model(tok, seed: int):
    from sfmed_trainer.tiny import build_model as bm

    return bm(tok, hidden=64, layers=2, seed=seed, max_positions=1024)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> dict[str, Path]:
    """{'base': ..., 'sft': ...}: the same tiny Qwen2 architecture; sft = base + small noise."""
    root = tmp_path_factory.mktemp("models")
    corpus = [m["content"] for r in sft_records(100) for m in r["messages"]]
    corpus += [p["chosen"] + p["rejected"] for p in pair_records(100)]
    corpus += ["The quick brown fox jumps over the lazy dog. Hello world, patient, doctor, fever, cough."] * 5
    tok = build_tokenizer(corpus)
    base = build_model(tok, 0)
    base.save_pretrained(root / "base")
    tok.save_pretrained(root / "base")
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for p in base.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.01)
    base.save_pretrained(root / "sft")
    tok.save_pretrained(root / "sft")
    return {"base": root / "base", "sft": root / "sft"}


@pytest.fixture(scope="session")
def tokenizer(models_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(models_dir["sft"])


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    sft = sft_records(60)
    pairs = pair_records(60)
    docs = [
        {"id": f"doc-{i}", "text": t}
        for i, t in enumerate((SAMPLES / "medicalgpt" / "medical_corpus.txt").read_text(encoding="utf-8").split("\n"))
        if t.strip()
    ][:80]
    general = [
        {"id": f"gen-{i}", "text": f"General text number {i}: the weather is mild and the sky is clear."}
        for i in range(20)
    ]
    return {
        "sft": write_jsonl(root / "sft.jsonl", sft),
        "pairs": write_jsonl(root / "pairs.jsonl", pairs),
        "docs": write_jsonl(root / "docs.jsonl", docs),
        "general": write_jsonl(root / "general.jsonl", general),
    }


def run_job(
    job: dict, tmp: Path, *, timeout: float = 300, env: dict | None = None, subprocess_: bool = False
) -> tuple[int, list[dict], str]:
    """Run a job like `python -m sfmed_trainer run JOB` and return (exit code, events, stderr).

    In-process by default (the same `main()` with stdout captured; saves a torch import per test);
    `subprocess_=True` (or an env) runs a real child process."""
    p = tmp / f"job-{job.get('stage')}-{abs(hash(json.dumps(job, sort_keys=True))) % 10**8}.json"
    p.write_text(json.dumps(job), encoding="utf-8")
    if not subprocess_ and env is None:
        import contextlib
        import io
        import signal

        from sfmed_trainer.__main__ import main
        from sfmed_trainer.runtime import Stop

        out, err = io.StringIO(), io.StringIO()
        saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(["run", str(p)])
        finally:
            for s, h in saved.items():
                signal.signal(s, h)
            Stop.requested = False
        return rc, [json.loads(l) for l in out.getvalue().splitlines() if l.strip()], err.getvalue()
    e = {**os.environ, "PYTHONPATH": str(TRAINER), "OMP_NUM_THREADS": "2", **(env or {})}
    cp = subprocess.run(
        [sys.executable, "-m", "sfmed_trainer", "run", str(p)], capture_output=True, text=True, timeout=timeout, env=e
    )
    events = [json.loads(l) for l in cp.stdout.splitlines() if l.strip()]
    return cp.returncode, events, cp.stderr


def of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["event"] == kind]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_torchrun(job: dict, tmp: Path, nproc: int = 2, timeout: float = 300) -> tuple[int, list[dict], str]:
    """Run a job under `torchrun --nproc_per_node=nproc` on CPU (gloo); returns (exit code, events, stderr)."""
    jp = tmp / f"torchrun-{abs(hash(json.dumps(job, sort_keys=True))) % 10**8}.json"
    jp.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(TRAINER), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        f"--nproc_per_node={nproc}",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "sfmed_trainer",
        "run",
        str(jp),
    ]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return cp.returncode, [json.loads(l) for l in cp.stdout.splitlines() if l.strip()], cp.stderr


def run_until_sigint(
    job: dict, tmp: Path, after_step: int, timeout: float = 120, sig: int | None = None
) -> tuple[int, list[dict], str]:
    """Start a job in a child process, send SIGINT (or `sig`) once a `step` event reaches `after_step`, and wait
    for it."""
    import signal
    import time

    sig = signal.SIGINT if sig is None else sig

    jp = tmp / "sigint.json"
    jp.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(TRAINER), "OMP_NUM_THREADS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfmed_trainer", "run", str(jp)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    events: list[dict] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        events.append(json.loads(line))  # stdout holds nothing but events
        if events[-1]["event"] == "step" and events[-1]["step"] >= after_step:
            proc.send_signal(sig)
            break
    rest, err = proc.communicate(timeout=timeout)
    events += [json.loads(l) for l in rest.splitlines() if l.strip()]
    return proc.returncode, events, err


def _rank_entry(rank: int, fn, init: str, world: int, args: tuple) -> None:
    from datetime import timedelta

    import torch.distributed as dist

    # a rank left waiting in a collective fails after 2 minutes instead of gloo's default 30
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world, timeout=timedelta(minutes=2))
    try:
        fn(rank, *args)
        dist.barrier()  # both ranks finish their collectives before either tears gloo down
    finally:
        dist.destroy_process_group()
    from sfmed_trainer.sharding import exit_rank

    exit_rank(0)  # as `python -m sfmed_trainer` ends a multi-rank run


def spawn_ranks(fn, tmp: Path, *args, world: int = 2, timeout: float = 300) -> None:
    """Run the module-level `fn(rank, *args)` on `world` CPU processes joined in one gloo group; a failed
    assertion on any rank fails the calling test with that rank's traceback, and ranks still running after
    `timeout` seconds are killed and fail it."""
    import pickle
    import time

    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

    ctx = mp.spawn(_rank_entry, args=(fn, f"file://{tmp / 'store'}", world, args), nprocs=world, join=False)
    deadline = time.monotonic() + timeout
    try:
        while not ctx.join(timeout=1):
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    p.kill()
                raise TimeoutError(f"{fn.__name__}: {world} ranks still running after {timeout:.0f} s")
    except ProcessException as e:
        # join names the first rank it saw fail, often a peer that lost its connection to the rank that
        # actually raised: show every rank's traceback
        traces = [
            f"-- rank {r}:\n{pickle.loads(Path(f).read_bytes())}"
            for r, f in enumerate(ctx.error_files)
            if f and os.path.exists(f) and os.path.getsize(f)
        ]
        raise RuntimeError("\n".join(traces) or str(e)) from e
