"""Keep the last good weights, and put them back when the loss turns NaN or infinite.

The loop already stops after an epoch whose training loss is not finite; this callback
keeps a copy of the weights after every epoch that ended with a finite loss and restores
it then, so a diverged run still leaves a usable network. It writes
``run.diverged = {"epoch", "loss", "restored_epoch"}`` and says so in
``run.stop_reason``.
"""

from __future__ import annotations

import math

import torch

from ...train.callbacks import Callback, RunState


class DivergenceGuard(Callback):
    """Restore the weights of the last epoch with a finite training loss after a divergence."""

    def __init__(self) -> None:
        self._good: dict[str, torch.Tensor] = {}
        self._good_epoch = 0

    def on_fit_begin(self, run: RunState) -> None:
        # The starting weights are the fallback if the very first epoch diverges; the
        # buffers are allocated once and copied into, so an epoch costs one memcpy.
        self._good = {k: v.detach().clone() for k, v in run.net.state_dict().items()}
        self._good_epoch = run.epoch

    def on_epoch_end(self, run: RunState) -> None:
        loss = run.history[-1]["train_loss"]
        if math.isfinite(loss):
            with torch.no_grad():
                for key, value in run.net.state_dict().items():
                    self._good[key].copy_(value)
            self._good_epoch = run.epoch
            return
        run.net.load_state_dict(self._good)
        run.diverged = {"epoch": run.epoch, "loss": loss, "restored_epoch": self._good_epoch}
        restored = (f"the weights of epoch {self._good_epoch}, the last with a finite loss" if self._good_epoch
                    else "the initial weights")
        reason = run.stop_reason or f"diverged: the training loss became {loss} in epoch {run.epoch}"
        run.stop_requested = True
        run.stop_reason = f"{reason}; restored {restored}"
