"""Keep the last good weights, and put them back when the loss turns NaN or infinite or blows up.

The loop already stops after an epoch whose training loss is not finite; this callback
also stops a run whose epoch loss rose far above the untrained network's (more than
:data:`BLOW_UP` times its first step's loss: a finite divergence, e.g. 7.9e13 from 1). It
keeps a copy of the weights after every epoch that ended with a sane loss and restores
it then, so a diverged run still leaves a usable network. It writes
``run.diverged = {"epoch", "loss", "restored_epoch", "initial_loss"}`` and says so in
``run.stop_reason``.
"""

from __future__ import annotations

import math

import torch

from ...train.callbacks import Callback, RunState

#: An epoch's training loss above this many times the first step's loss is a divergence.
#: Healthy runs never rise above their first step's loss by more than a few percent (the
#: largest epoch loss over the first step's is at most 1.0x on the healthy calibration runs of
#: ``bench/scenarios.py``); a learning rate 10x too high reaches 3-30x; 1,000x leaves no doubt.
BLOW_UP = 1000.0
#: The first step's loss is floored here before multiplying, so a near-zero start (a target
#: leaking into the features) does not make ordinary noise look like a divergence.
LOSS_FLOOR = 0.01


class DivergenceGuard(Callback):
    """Restore the weights of the last epoch with a sane training loss after a divergence."""

    def __init__(self) -> None:
        self._good: dict[str, torch.Tensor] = {}
        self._live: list[torch.Tensor] = []
        self._good_epoch = 0
        self._first_step: int | None = None
        self._first_loss: torch.Tensor | None = None
        self._reference: float | None = None

    def on_fit_begin(self, run: RunState) -> None:
        # The starting weights are the fallback if the very first epoch diverges; the
        # buffers are allocated once and copied into, so an epoch costs one memcpy.
        self._good = {k: v.detach().clone() for k, v in run.net.state_dict().items()}
        # the parameters and buffers themselves (not detached copies), read once: state_dict()
        # walks the modules in Python, which a small table's short epochs would pay every epoch
        self._live = list(run.net.state_dict(keep_vars=True).values())
        self._good_epoch = run.epoch
        # a continued fit keeps the reference of the run's first fit (run.initial_loss)
        self._reference = run.initial_loss
        self._first_step = run.step if self._reference is None else None

    def wants_step(self, run: RunState) -> bool:
        return run.step == self._first_step

    def steps_wanted(self, run: RunState) -> frozenset[int] | None:
        return frozenset() if self._first_step is None else frozenset({self._first_step - run.step})

    def on_step_end(self, run: RunState) -> None:
        self._first_loss = run.batch_loss

    def _blown_up(self, loss: float) -> bool:
        if self._reference is None and self._first_loss is not None:
            first = float(self._first_loss)
            self._reference = first if math.isfinite(first) else None
            self._first_loss = None
        return self._reference is not None and loss > BLOW_UP * max(self._reference, LOSS_FLOOR)

    def on_epoch_end(self, run: RunState) -> None:
        loss = run.history[-1]["train_loss"]
        blown = math.isfinite(loss) and self._blown_up(loss)
        if math.isfinite(loss) and not blown:
            with torch.no_grad():  # one fused copy: a small table pays this every epoch
                torch._foreach_copy_(list(self._good.values()), self._live)
            self._good_epoch = run.epoch
            return
        run.net.load_state_dict(self._good)
        run.diverged = {"epoch": run.epoch, "loss": loss, "restored_epoch": self._good_epoch,
                        "initial_loss": self._reference}
        restored = (f"the weights of epoch {self._good_epoch}, the last with a sane loss" if self._good_epoch
                    else "the initial weights")
        reason = run.stop_reason or (
            f"diverged: the training loss rose to {loss:.3g} in epoch {run.epoch}, over {BLOW_UP:g} times the "
            f"untrained network's {self._reference:.3g}" if blown else
            f"diverged: the training loss became {loss} in epoch {run.epoch}")
        run.stop_requested = True
        run.stop_reason = f"{reason}; restored {restored}"
