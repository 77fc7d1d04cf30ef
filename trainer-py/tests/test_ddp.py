import json
import os
import socket
import subprocess
import sys

from conftest import TRAINER, of


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_gloo_replicas_identical(models_dir, data_dir, tmp_path):
    """torchrun, 2 CPU processes (gloo), OnDARE with random masks: the replicas stay bit-identical."""
    job = {"version": 1, "stage": "sft", "model": str(models_dir["sft"]), "output_dir": str(tmp_path / "ddp"),
           "cutoff_len": 64, "data": {"train": str(data_dir["sft"]), "max_samples": 32},
           "optimizer": {"name": "ondare", "p": 0.5, "alpha": 1e-3, "base_model": str(models_dir["base"])},
           "train": {"max_steps": 4, "batch_size": 2, "grad_accum": 2, "lr": 2e-3, "dropout": 0.1}}
    jp = tmp_path / "ddp.json"
    jp.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(TRAINER), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "sfmed_trainer", "run", str(jp)]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert cp.returncode == 0, cp.stderr[-3000:]
    ev = [json.loads(l) for l in cp.stdout.splitlines() if l.startswith("{")]
    start = of(ev, "start")
    assert len(start) == 1 and start[0]["world_size"] == 2  # only rank 0 emits
    assert [s["step"] for s in of(ev, "step")] == [1, 2, 3, 4]
    done = of(ev, "done")[0]
    assert done["replica_max_diff"] == 0.0
