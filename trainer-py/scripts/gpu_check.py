"""The trainer's GPU paths in one run, for a machine with a CUDA GPU: bf16 autocast with gradient
checkpointing, the online-merging optimizers on CUDA tensors, serve on the GPU, and the optimizer-step bench.

Run (with the trainer's environment; the machine needs no network):
    python trainer-py/scripts/gpu_check.py [--out DIR] [--steps 30] [--device cuda]

It builds a small Qwen2 (hidden 256, 4 layers) and a BPE tokenizer from the bundled samples, then runs, each
job in this process so that peak GPU memory can be read between them:
  1. SFT in fp32 and in bf16 with gradient checkpointing, from the same start: bf16's losses must stay close
     to fp32's (first 5 steps within 3 %, the last within 10 %) and both must fall;
  2. DPO (bf16) from the SFT model with adamw, ondare and onties (p = 0.01, τ against the base model): losses
     finite, reward margin growing;
  3. serve on the bf16 SFT checkpoint: chat, completions with log-probs and echo, embeddings, over HTTP;
  4. bench/optim_step.py on the device (OnDARE/OnTIES vs AdamW step time and memory).
Prints a table and writes `gpu-check.json` (every step event, peak memory, pass/fail per check) under --out.
Exits 1 when a check fails. `--device cpu --steps 4` runs the same steps on a CPU, to try the script itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

TRAINER = Path(__file__).resolve().parents[1]
SAMPLES = TRAINER.parent / "data" / "samples" / "medicalgpt"
sys.path.insert(0, str(TRAINER))


def write_jsonl(path: Path, recs: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    return str(path)


def run_job(job: dict, work: Path, device: str) -> dict:
    """One job through the CLI's main() in this process: its events, exit code and peak GPU memory."""
    from sfmed_trainer.__main__ import main
    from sfmed_trainer.runtime import Stop

    p = work / f"{Path(job['output_dir']).name}.json"
    p.write_text(json.dumps(job), encoding="utf-8")
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    out, err = io.StringIO(), io.StringIO()
    t = time.perf_counter()
    with contextlib.redirect_stderr(err):
        rc = main(["run", str(p)], events_out=out)
    Stop.requested = False
    events = [json.loads(l) for l in out.getvalue().splitlines() if l.strip()]
    return {
        "rc": rc,
        "seconds": round(time.perf_counter() - t, 1),
        "events": events,
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None,
        "stderr_tail": err.getvalue()[-3000:] if rc else "",
    }


def of(res: dict, kind: str) -> list[dict]:
    return [e for e in res["events"] if e["event"] == kind]


class Checks:
    def __init__(self):
        self.rows: list[tuple[str, bool, str]] = []

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.rows.append((name, bool(ok), detail))
        return bool(ok)


def serve_check(model: str, device: str, checks: Checks) -> dict:
    """Start serve on the checkpoint, send one request to each generation and embedding endpoint."""
    env = {**os.environ, "PYTHONPATH": str(TRAINER)}
    if device != "cuda":
        env["CUDA_VISIBLE_DEVICES"] = ""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfmed_trainer", "serve", model],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out: dict = {}
    try:
        ready = json.loads(proc.stdout.readline() or "{}")
        url = ready.get("url")
        if not checks.add("serve starts", url is not None, json.dumps(ready)[:200]):
            return out

        def post(path: str, body: dict) -> dict:
            req = urllib.request.Request(url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read())

        msgs = [{"role": "user", "content": "发热咳嗽怎么办？"}]
        chat = post("/v1/chat/completions", {"messages": msgs, "max_tokens": 16, "temperature": 0})
        checks.add(
            "serve chat",
            bool(chat["choices"][0]["message"]["content"] is not None),
            repr(chat["choices"][0]["message"]["content"][:40]),
        )
        comp = post(
            "/v1/completions", {"prompt": "发热咳嗽", "max_tokens": 8, "temperature": 0, "logprobs": 2, "echo": True}
        )
        lp = comp["choices"][0]["logprobs"]["token_logprobs"]
        checks.add(
            "serve completions echo+logprobs",
            lp[0] is None and all(x is None or math.isfinite(x) for x in lp),
            f"{len(lp)} tokens",
        )
        emb = post("/v1/embeddings", {"input": ["发热", "咳嗽"], "layer": 2})
        checks.add(
            "serve embeddings",
            len(emb["data"]) == 2 and len(emb["data"][0]["embedding"]) > 0,
            f"dim {len(emb['data'][0]['embedding'])}",
        )
        out = {"ready": ready, "chat": chat["choices"][0]["message"]["content"]}
    except Exception as e:  # noqa: BLE001 - a failed check, reported
        checks.add("serve", False, f"{type(e).__name__}: {e}"[:300])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT"))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--no-bench", action="store_true")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device (torch.cuda.is_available() is False); --device cpu tries the script",
            file=sys.stderr,
        )
        return 2
    from transformers import AutoModelForCausalLM

    from sfmed_trainer.tiny import build_model, build_tokenizer, reward_pairs, sharegpt_dialogues

    checks = Checks()
    report: dict = {
        "device": torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "steps": a.steps,
        "jobs": {},
    }
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        sft = sharegpt_dialogues(SAMPLES / "medical_sft_1K_format.jsonl", 400)
        pairs = reward_pairs(SAMPLES / "test.json", 200)
        corpus = [m["content"] for r in sft for m in r["messages"]] + [p["chosen"] + p["rejected"] for p in pairs]
        tok = build_tokenizer(corpus, 2048)
        base = build_model(tok, hidden=256, layers=4, seed=0, max_positions=1024)
        base.save_pretrained(work / "base")
        tok.save_pretrained(work / "base")
        data = {"sft": write_jsonl(work / "sft.jsonl", sft), "pairs": write_jsonl(work / "pairs.jsonl", pairs)}

        def sft_job(name: str, bf16: bool) -> dict:
            return {
                "version": 1,
                "stage": "sft",
                "device": a.device,
                "model": str(work / "base"),
                "output_dir": str(work / name),
                "cutoff_len": 256,
                "data": {"train": data["sft"]},
                "train": {
                    "max_steps": a.steps,
                    "batch_size": 8,
                    "grad_accum": 2,
                    "lr": 1e-3,
                    "warmup_ratio": 0.1,
                    "bf16": bf16,
                    "gradient_checkpointing": bf16,
                    "keep_best": False,
                    "logging_steps": 1,
                    "dropout": 0.0,
                    "seed": 0,
                },
            }

        jobs = report["jobs"]
        jobs["sft_fp32"] = run_job(sft_job("sft_fp32", False), work, a.device)
        jobs["sft_bf16"] = run_job(sft_job("sft_bf16", True), work, a.device)
        for name in ("sft_fp32", "sft_bf16"):
            r = jobs[name]
            losses = [s["loss"] for s in of(r, "step")]
            start = (of(r, "start") or [{}])[0]
            checks.add(
                f"{name} runs", r["rc"] == 0 and len(losses) == a.steps, f"rc {r['rc']} {r['stderr_tail'][-300:]}"
            )
            checks.add(
                f"{name} on {a.device}, bf16 {name.endswith('bf16')}",
                str(start.get("device", "")).startswith(a.device) and bool(start.get("bf16")) == name.endswith("bf16"),
                f"start.device {start.get('device')}, start.bf16 {start.get('bf16')}",
            )
            checks.add(
                f"{name} loss falls",
                bool(losses) and all(map(math.isfinite, losses)) and losses[-1] < losses[0],
                f"{losses[0]:.3f} → {losses[-1]:.3f}" if losses else "no steps",
            )
        f32 = [s["loss"] for s in of(jobs["sft_fp32"], "step")]
        b16 = [s["loss"] for s in of(jobs["sft_bf16"], "step")]
        if f32 and b16:
            first = max(abs(x - y) / abs(y) for x, y in zip(b16[:5], f32[:5]))
            last = abs(b16[-1] - f32[-1]) / abs(f32[-1])
            checks.add(
                "bf16 losses track fp32",
                first <= 0.03 and last <= 0.10,
                f"first 5 steps ≤ {first:.2%}, last step {last:.2%}",
            )
        sft_model = str(work / "sft_bf16" / "final")
        if os.path.isdir(sft_model):
            m = AutoModelForCausalLM.from_pretrained(sft_model)
            checks.add(
                "bf16 checkpoint loads",
                all(torch.isfinite(p).all() for p in m.parameters()),
                f"{sum(p.numel() for p in m.parameters()) / 1e6:.1f}M params, {next(m.parameters()).dtype}",
            )
            del m
            for opt in ("adamw", "ondare", "onties"):
                o = (
                    {"name": opt}
                    if opt == "adamw"
                    else {
                        "name": opt,
                        "p": 0.01,
                        "alpha": 1e-2,
                        "allow_large_alpha": True,
                        "base_model": str(work / "base"),
                    }
                )
                job = {
                    "version": 1,
                    "stage": "dpo",
                    "device": a.device,
                    "model": sft_model,
                    "output_dir": str(work / f"dpo_{opt}"),
                    "cutoff_len": 256,
                    "data": {"train": data["pairs"]},
                    "optimizer": o,
                    "dpo": {"beta": 0.1},
                    "train": {
                        "max_steps": a.steps,
                        "batch_size": 4,
                        "grad_accum": 2,
                        "lr": 5e-4,
                        "bf16": True,
                        "gradient_checkpointing": True,
                        "keep_best": False,
                        "logging_steps": 1,
                        "seed": 0,
                    },
                }
                r = jobs[f"dpo_{opt}"] = run_job(job, work, a.device)
                steps = of(r, "step")
                margins = [s.get("reward_margin") for s in steps]
                ok = r["rc"] == 0 and len(steps) == a.steps and all(math.isfinite(s["loss"]) for s in steps)
                checks.add(f"dpo {opt} runs", ok, f"rc {r['rc']} {r['stderr_tail'][-300:]}")
                if ok:
                    head, tail = margins[: max(1, a.steps // 5)], margins[-max(1, a.steps // 5) :]
                    checks.add(
                        f"dpo {opt} reward margin grows",
                        sum(tail) / len(tail) > sum(head) / len(head),
                        f"{sum(head) / len(head):.4f} → {sum(tail) / len(tail):.4f}",
                    )
            report["serve"] = serve_check(sft_model, a.device, checks)
    if not a.no_bench:
        cmd = [sys.executable, str(TRAINER / "bench" / "optim_step.py"), "--device", a.device]
        if a.device == "cuda":
            cmd += ["--params", "200e6", "--hidden", "2048", "--warmup", "10"]
        bp = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        report["optim_bench"] = bp.stdout
        checks.add("optim_step bench", bp.returncode == 0, bp.stderr[-300:] if bp.returncode else "see optim_bench")
    report["checks"] = [{"check": n, "ok": ok, "detail": det} for n, ok, det in checks.rows]
    print(f"# gpu_check on {report['device']} (torch {report['torch']}), {a.steps} steps per job")
    print("| job | rc | seconds | peak GPU MiB | first loss | last loss |")
    print("|---|---|---|---|---|---|")
    for name, r in report["jobs"].items():
        ls = [s["loss"] for s in of(r, "step")]
        print(
            f"| {name} | {r['rc']} | {r['seconds']} | {r['peak_gpu_mib']} | "
            f"{ls[0] if ls else float('nan'):.4f} | {ls[-1] if ls else float('nan'):.4f} |"
        )
    print("\n| check | ok | detail |\n|---|---|---|")
    for n, ok, det in checks.rows:
        print(f"| {n} | {'yes' if ok else 'NO'} | {det} |")
    if report.get("optim_bench"):
        print("\n" + report["optim_bench"])
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "gpu-check.json"), "w", encoding="utf-8") as f:
            json.dump(report, f, ensure_ascii=False, indent=1)
    return 0 if all(ok for _, ok, _ in checks.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
