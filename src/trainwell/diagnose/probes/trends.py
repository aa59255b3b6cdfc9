"""Loss trends per epoch: exploding loss, train/validation gap, validation plateau.

Recorded in each history row (plain numbers, so ``history.to_frame()`` keeps them):

``loss_vs_first``
    Training loss divided by the first epoch's: above 1 and rising means the loss is
    exploding (learning rate too high), staying near 1 means nothing is being learnt.
``generalization_gap``
    Validation loss minus training loss (with a validation split).
``val_plateau_epochs``
    Epochs since the validation loss last improved by at least 0.1 %.

And ``run.initial_loss``: the loss of the very first training step, i.e. of the
untrained network (the notes' first sanity check, measured in the real run); with
floating-point targets (a regression), ``run.initial_batch_energy``: that batch's mean
squared target, the loss an untrained output near zero scores on it.
"""

from __future__ import annotations

import math

import torch

from ...train.callbacks import Callback, RunState


class TrendProbe(Callback):
    """Derive the loss-trend columns from the history at the end of every epoch."""

    def __init__(self, min_delta: float = 1e-3) -> None:
        self.min_delta = min_delta
        self._first_step: int | None = None
        self._initial: torch.Tensor | None = None
        self._energy: torch.Tensor | None = None

    def on_fit_begin(self, run: RunState) -> None:
        self._first: float | None = None
        self._best_val = math.inf
        self._since_best = 0
        self._first_step = run.step if run.initial_loss is None else None

    def wants_step(self, run: RunState) -> bool:
        return run.step == self._first_step

    def steps_wanted(self, run: RunState) -> frozenset[int] | None:
        return frozenset() if self._first_step is None else frozenset({self._first_step - run.step})

    def on_step_end(self, run: RunState) -> None:
        self._initial = run.batch_loss
        targets = run.batch[1] if run.batch is not None else None
        if targets is not None and targets.is_floating_point():
            self._energy = targets.detach().double().square().mean()

    def on_epoch_end(self, run: RunState) -> None:
        if self._initial is not None:
            run.initial_loss = float(self._initial)
            self._initial = None
        if self._energy is not None:
            run.initial_batch_energy = float(self._energy)
            self._energy = None
        row = run.history[-1]
        loss = row["train_loss"]
        if self._first is None and math.isfinite(loss):
            self._first = loss
        if self._first:
            row["loss_vs_first"] = loss / self._first
        val = row.get("val_loss")
        if val is None:
            return
        row["generalization_gap"] = val - loss
        if math.isfinite(val) and val < self._best_val * (1 - self.min_delta):
            self._best_val = val
            self._since_best = 0
        else:
            self._since_best += 1
        row["val_plateau_epochs"] = self._since_best
