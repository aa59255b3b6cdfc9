"""The epoch's bookkeeping after its numbers: the schedule, the history row, the stop checks, the callbacks."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .callbacks import Callback
from .state import RunState

if TYPE_CHECKING:
    from .distributed import Shard

__all__ = ["end_epoch", "step_schedule"]


def end_epoch(run: RunState, row: dict[str, Any], callbacks: Sequence[Callback], shard: Shard | None,
              started: float) -> None:
    """The epoch's bookkeeping after its numbers: scheduler, history row, stop checks, callbacks.

    Parameters
    ----------
    run : RunState
    row : dict
        The epoch's history row (:meth:`EpochRunner.epoch_row`).
    callbacks : sequence of Callback
        Told ``on_epoch_end`` once the row is in the history.
    shard : Shard or None
        Under torchrun, the ranks agree on the callbacks' numbers and rank 0's stop.
    started : float
        ``time.perf_counter()`` at the start of the epoch.
    """
    step_schedule(run, row)
    row["seconds"] = time.perf_counter() - started
    run.history.append(row)
    if not math.isfinite(row["train_loss"]):
        run.stop_requested = True
        run.stop_reason = f"diverged: the training loss became {row['train_loss']} in epoch {run.epoch}"
    for cb in callbacks:
        cb.on_epoch_end(run)
    if shard is not None:  # diagnostics averaged over ranks; rank 0 decides when all stop
        shard.agree(run)


def step_schedule(run: RunState, row: dict[str, Any]) -> None:
    """Step an epoch-wise learning-rate schedule after the epoch (a per-batch one steps with the batches)."""
    if run.scheduler is None:
        return
    when = run._loop.schedule_when
    if when == "epoch":
        run.scheduler.step()
    elif when == "plateau":
        run.scheduler.step(row.get("val_loss", row["train_loss"]))
