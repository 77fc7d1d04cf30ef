"""Checkpoints: folders written atomically (temp folder, then renames), cleanup after a killed save, the
newest complete checkpoint to resume from, the trainer state (step, optimizer, scheduler, RNG, best eval)
the built-in loop saves and restores, and the result both DPO engines report."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import Any, Callable

import torch

from . import sharding as S
from .events import log

CKPT_RE = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.pt"


def atomic_save_dir(build: Callable[[str], None], dest: str, prepared: str | None = None) -> None:
    """`build(tmp)` writes the folder's files into `dest`.tmp (or `prepared`, a temp folder already written),
    which then replaces `dest`: dest → dest.old, tmp → dest, dest.old deleted (sweep_stale finishes a save
    killed between the renames)."""
    tmp = prepared or dest + ".tmp"
    if prepared is None:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    build(tmp)
    old = dest + ".old"
    if os.path.exists(dest):
        shutil.rmtree(old, ignore_errors=True)
        os.rename(dest, old)
    os.rename(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


def publish_prepared(tmp: str, dest: str) -> None:
    """Rename the fully written temp folder `tmp` into place as `dest` (atomic_save_dir with nothing to build)."""
    atomic_save_dir(lambda _: None, dest, prepared=tmp)


def is_checkpoint_name(path: str) -> bool:
    return bool(CKPT_RE.match(os.path.basename(os.path.normpath(path))))


def checkpoint_complete(path: str) -> bool:
    """A checkpoint folder that can be resumed: config, weights and the trainer state (ours or TRL's), none of
    them empty. Folders are renamed into place only once written, so a partial one comes from outside (a
    deleted file, a copy cut short)."""

    def ok(name: str) -> bool:
        f = os.path.join(path, name)
        return os.path.isfile(f) and os.path.getsize(f) > 0

    return (
        os.path.isdir(path)
        and ok("config.json")
        and (ok("model.safetensors") or ok("model.safetensors.index.json"))
        and (ok(STATE_FILE) or ok("trainer_state.json"))
    )


def newest_complete_checkpoint(path: str) -> str | None:
    """`path` when it is a complete checkpoint; else the complete checkpoint-N with the largest N in the
    folder it names (an output folder) or in its parent (a checkpoint-N folder); None when there is none."""
    if checkpoint_complete(path):
        return path
    norm = os.path.normpath(path)
    folder = norm if os.path.isdir(norm) and not is_checkpoint_name(norm) else os.path.dirname(norm)
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    steps = sorted((int(m.group(1)) for m in map(CKPT_RE.match, names) if m), reverse=True)
    for n in steps:
        cand = os.path.join(folder, f"checkpoint-{n}")
        if checkpoint_complete(cand):
            return cand
    return None


def prune_checkpoints(out_dir: str, keep: int) -> None:
    """Delete all but the `keep` newest checkpoint-N folders of `out_dir`."""
    steps = sorted(int(m.group(1)) for m in map(CKPT_RE.match, os.listdir(out_dir)) if m)
    for old in steps[:-keep]:
        shutil.rmtree(os.path.join(out_dir, f"checkpoint-{old}"), ignore_errors=True)


def sweep_stale(out_dir: str) -> list[str]:
    """Clean up after a save that was killed (`atomic_save_dir`: build X.tmp, rename X → X.old, X.tmp → X,
    delete X.old) in `out_dir` and its model-i folders. X.old without X: the kill fell between the two
    renames, so X.tmp is complete and becomes X (or X.old is put back when X.tmp is gone). Every other X.tmp
    and X.old is deleted. Returns what was removed or restored."""
    done: list[str] = []
    if not os.path.isdir(out_dir):
        return done
    subs = [x for x in sorted(os.listdir(out_dir)) if re.match(r"^model-\d+$", x)]
    folders = [out_dir] + [os.path.join(out_dir, x) for x in subs if os.path.isdir(os.path.join(out_dir, x))]
    for folder in folders:
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".old"):
                continue
            dest = os.path.join(folder, name[:-4])
            old, tmp = dest + ".old", dest + ".tmp"
            if not os.path.exists(dest):
                os.rename(tmp if os.path.isdir(tmp) else old, dest)
                done.append(dest)
        for name in sorted(os.listdir(folder)):
            p = os.path.join(folder, name)
            if (name.endswith(".tmp") or name.endswith(".old")) and os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
                done.append(p)
    if done:
        log(f"removed or restored what a killed save left: {done}")
    return done


# ----------------------------------------------------------------------------------------- trainer state


def trainer_state(step: int, optimizer: dict | None, sched, best: dict, stage: str, shards: int | None) -> dict:
    """What trainer_state.pt holds: the step, the optimizer state (None when it is saved per rank, `shards`
    ranks of FSDP), the scheduler, the RNG states and the best eval so far."""
    return {
        "step": step,
        "optimizer": optimizer,
        "scheduler": sched.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "best": best,
        "stage": stage,
        "optimizer_shards": shards,
    }


def has_trainer_state(folder: str | None) -> bool:
    return bool(folder) and os.path.exists(os.path.join(folder, STATE_FILE))


def restore_trainer_state(folder: str, model, opt, sched, fsdp: bool, rank: int, world: int) -> tuple[int, dict]:
    """Load a checkpoint's optimizer, scheduler and RNG states into the run; returns (step, best)."""
    st = torch.load(os.path.join(folder, STATE_FILE), weights_only=True)
    shards = st.get("optimizer_shards")
    if shards and S.has_optimizer_checkpoint(folder):
        S.load_optimizer(model, opt, folder)  # any number of ranks, sharded or not
    elif shards:
        if not fsdp or shards != world:
            raise ValueError(
                f"resume_from: {folder} holds optimizer state sharded over {shards} FSDP ranks; "
                "resume with sharding fsdp on as many processes"
            )
        opt.load_state_dict(torch.load(os.path.join(folder, f"optimizer.rank{rank}.pt"), weights_only=True))
        S.restore_dtensor_state(opt)
    elif fsdp:
        S.load_optimizer_from_full(opt, st["optimizer"])  # each rank keeps its slice
    else:
        opt.load_state_dict(st["optimizer"])
    sched.load_state_dict(st["scheduler"])
    torch.set_rng_state(st["rng_cpu"])
    if st.get("rng_cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["rng_cuda"])
    return st["step"], st["best"]


# ----------------------------------------------------------------------------------------- results


@dataclass
class Best:
    """The best eval loss so far and its step (keep_best saves that model as `best`)."""

    loss: float | None = None
    step: int | None = None

    def improved_by(self, loss: float | None) -> bool:
        return loss is not None and (self.loss is None or loss < self.loss)

    def as_dict(self) -> dict:
        return {"loss": self.loss, "step": self.step}


def interrupted_result(head: dict, step: int, out_dir: str, **extra) -> dict[str, Any]:
    """The `done` fields of a run stopped by a signal, whose last checkpoint is checkpoint-{step}."""
    ck = os.path.join(out_dir, f"checkpoint-{step}")
    return {**head, "interrupted": True, "step": step, "checkpoint": ck, **extra}


def final_result(head: dict, step: int, out_dir: str, final: str, best: Best, keep_best: bool, **extra) -> dict:
    """The `done` fields of a finished run: the model it hands on (best with keep_best, else final)."""
    best_path = os.path.join(out_dir, "best") if best.step is not None else None
    chosen = best_path if (keep_best and best_path) else final
    return {
        **head,
        "interrupted": False,
        "step": step,
        "model": chosen,
        "final_model": final,
        "best_model": best_path,
        "best_eval_loss": best.loss,
        "best_step": best.step,
        **extra,
    }


def atomic_write_text(path: str, text: str) -> None:
    """Write a text file through a temp file and a rename (its folder created if missing)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
