"""Callback points of the training loop, and the callbacks the loop ships with.

Observers never reach into the loop: they get a :class:`RunState` at a few named
events, may ask ahead of time to watch particular steps (:meth:`Callback.wants_step`),
and stop training only by setting ``run.stop_requested``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .history import History


@dataclass
class RunState:
    """What observers see of a run in progress."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Any
    config: Any
    history: History = field(default_factory=History)
    scheduler: Any = None
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    n_train: int = 0
    n_val: int = 0
    stop_requested: bool = False
    stop_reason: str | None = None
    best_epoch: int | None = None
    batch: tuple[torch.Tensor, torch.Tensor] | None = None
    batch_loss: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Callback:
    """Base class for anything that watches training. Override only the events you need.

    A callback may also define ``before_step(run, index, watched)``: the loop then calls it
    before every step of an epoch, watched or not (``index`` counts the epoch's steps,
    ``watched`` says whether some callback watches this one). It is not part of this base
    class because most callbacks must not cost the unwatched steps anything; the one that
    uses it is :class:`~trainwell.train.step_profile.StepProfiler`.
    """

    def wants_step(self, run: RunState) -> bool:
        """Whether this callback must see the coming step (``run.step``) in detail."""
        return False

    def on_fit_begin(self, run: RunState) -> None: ...

    def on_epoch_begin(self, run: RunState) -> None: ...

    def on_step_begin(self, run: RunState) -> None:
        """Called before a step this callback asked for with :meth:`wants_step`."""

    def on_step_end(self, run: RunState) -> None:
        """Called after a step this callback asked for; ``run.batch_loss`` is set."""

    def on_epoch_end(self, run: RunState) -> None:
        """Called after validation; ``run.history[-1]`` holds the epoch's numbers."""

    def on_fit_end(self, run: RunState) -> None: ...


class EarlyStopping(Callback):
    """Stop when the validation loss has not improved for ``patience`` epochs and
    restore the weights of the best epoch.

    Parameters
    ----------
    patience : int
        Epochs without improvement before stopping.
    min_delta : float
        Relative improvement that counts (``1e-4`` = 0.01 %).
    monitor : str
        History key to minimise.
    """

    def __init__(self, patience: int = 10, min_delta: float = 1e-4, monitor: str = "val_loss") -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.monitor = monitor
        self.best = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.wait = 0

    def on_fit_begin(self, run: RunState) -> None:
        self.best = math.inf
        self.best_state = None
        self.wait = 0

    def on_epoch_end(self, run: RunState) -> None:
        value = run.history[-1].get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if value < self.best - self.min_delta * abs(self.best if math.isfinite(self.best) else value):
            self.best = value
            self.wait = 0
            run.best_epoch = run.epoch
            self.best_state = copy.deepcopy(run.net.state_dict())
        else:
            self.wait += 1
            if self.wait >= self.patience:
                run.stop_requested = True
                run.stop_reason = (
                    f"early stopping: {self.monitor} did not improve for {self.patience} epochs; "
                    f"restored the weights of epoch {run.best_epoch}"
                )

    def on_fit_end(self, run: RunState) -> None:
        if self.best_state is not None:
            run.net.load_state_dict(self.best_state)


class PrintProgress(Callback):
    """Print one line per epoch (the estimators' ``verbose=1``)."""

    def __init__(self, every: int = 1, printer=print) -> None:
        self.every = every
        self.printer = printer

    def on_epoch_end(self, run: RunState) -> None:
        row = run.history[-1]
        if row["epoch"] % self.every and not run.stop_requested:
            return
        parts = [f"epoch {row['epoch']:>3}"]
        for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "train_r2", "val_r2"):
            if row.get(key) is not None:
                parts.append(f"{key} {row[key]:.4f}")
        parts.append(f"{row['seconds']:.2f}s")
        self.printer("  ".join(parts))
