from conftest import of, run_torchrun


def test_ddp_two_processes_gloo_replicas_identical(models_dir, data_dir, tmp_path):
    """torchrun, 2 CPU processes (gloo), OnDARE with random masks: the replicas stay bit-identical."""
    job = {
        "version": 1,
        "stage": "sft",
        "model": str(models_dir["sft"]),
        "output_dir": str(tmp_path / "ddp"),
        "cutoff_len": 64,
        "data": {"train": str(data_dir["sft"]), "max_samples": 32},
        "optimizer": {
            "name": "ondare",
            "p": 0.5,
            "alpha": 1e-3,
            "allow_large_alpha": True,
            "base_model": str(models_dir["base"]),
        },
        "train": {"max_steps": 4, "batch_size": 2, "grad_accum": 2, "lr": 2e-3, "dropout": 0.1},
    }
    rc, ev, err = run_torchrun(job, tmp_path)
    assert rc == 0, err[-3000:]
    start = of(ev, "start")
    assert len(start) == 1 and start[0]["world_size"] == 2  # only rank 0 emits
    assert [s["step"] for s in of(ev, "step")] == [1, 2, 3, 4]
    done = of(ev, "done")[0]
    assert done["replica_max_diff"] == 0.0
