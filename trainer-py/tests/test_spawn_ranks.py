"""conftest.spawn_ranks, which the 2-process tests without the CLI rely on: a failing rank fails the test
with its own traceback (not a peer's lost connection), and a stuck rank fails it after the timeout."""

import pytest
import torch

from conftest import spawn_ranks


def _disagree(rank: int) -> None:
    import torch.distributed as dist

    t = torch.ones(2)
    dist.all_reduce(t)
    assert rank == 0 or t.sum() == 0, "rank 1 disagrees"


def _stuck(rank: int) -> None:
    import time

    if rank == 1:
        time.sleep(60)


def _agree(rank: int, out: str) -> None:
    import torch.distributed as dist

    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    with open(f"{out}.{rank}", "w") as f:
        f.write(str(t.item()))


def test_spawn_ranks_runs_every_rank(tmp_path):
    spawn_ranks(_agree, tmp_path, str(tmp_path / "sum"))
    assert [(tmp_path / f"sum.{r}").read_text() for r in range(2)] == ["3.0", "3.0"]


def test_spawn_ranks_reports_the_rank_that_raised(tmp_path):
    with pytest.raises(RuntimeError, match="rank 1:(.|\n)*AssertionError: rank 1 disagrees"):
        spawn_ranks(_disagree, tmp_path)


def test_spawn_ranks_times_out(tmp_path):
    with pytest.raises(TimeoutError, match="2 ranks still running after 3 s"):
        spawn_ranks(_stuck, tmp_path, timeout=3)
