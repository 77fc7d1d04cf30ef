"""scripts/gpu_check.py (the one-run check of the GPU paths) on the CPU, so that it works when a GPU comes:
every job runs, every check passes and the report is written."""

import json
import os
import subprocess
import sys

from conftest import TRAINER


def test_gpu_check_script_on_cpu(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(TRAINER), "OMP_NUM_THREADS": "2", "CUDA_VISIBLE_DEVICES": ""}
    cp = subprocess.run(
        [
            sys.executable,
            str(TRAINER / "scripts" / "gpu_check.py"),
            "--device",
            "cpu",
            "--steps",
            "3",
            "--no-bench",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-3000:]
    report = json.loads((tmp_path / "gpu-check.json").read_text(encoding="utf-8"))
    assert set(report["jobs"]) == {"sft_fp32", "sft_bf16", "dpo_adamw", "dpo_ondare", "dpo_onties"}
    names = [c["check"] for c in report["checks"]]
    assert "bf16 losses track fp32" in names and "serve completions echo+logprobs" in names
    assert all(c["ok"] for c in report["checks"]), [c for c in report["checks"] if not c["ok"]]
    assert "| dpo_onties | 0 |" in cp.stdout
