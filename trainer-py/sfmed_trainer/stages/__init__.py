"""The training stages as recipes over the shared pieces (trainer.Runner, loop.TrainLoop, model_io,
checkpoint, schedule, optim): pt (continued pre-training on packed documents), sft (dialogues), rm (N reward
models, or scoring pairs with them) and dpo (the built-in loop or TRL's DPOTrainer). `run_job` runs a job."""

from __future__ import annotations

from typing import Any

from ..config import Job
from ..events import Events
from ..trainer import Runner
from . import dpo, pt, rm, sft

RECIPES = {"pt": pt, "sft": sft, "rm": rm, "dpo": dpo}


def run_job(job: Job, events: Events | None = None) -> dict[str, Any]:
    """Run a validated job (train or score) to its result; events go to `events`."""
    runner = Runner(job, events)
    runner.prepare()
    if job.mode == "score":
        return rm.score(runner)
    return RECIPES[job.stage].run(runner)
