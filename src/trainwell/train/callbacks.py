"""Callback points of the training loop, and the callbacks the loop ships with.

Observers never reach into the loop: they get a :class:`RunState` at a few named
events, may ask ahead of time to watch particular steps (:meth:`Callback.wants_step`),
and stop training only by setting ``run.stop_requested``.
"""

from __future__ import annotations

import math

import torch

from .state import RunState

__all__ = ["Callback", "EarlyStopping", "PrintProgress", "RunState", "overrides"]


class Callback:
    """Base class for anything that watches training. Override only the events you need.

    The loop calls ``on_fit_begin``, then per epoch ``on_epoch_begin``, the step events
    and ``on_epoch_end``, and ``on_fit_end`` last. Two events run around every step of an
    epoch, and so cost every step a Python call; the loop calls them only on callbacks
    that override them (see :func:`overrides`), so most callbacks cost the steps nothing:

    - :meth:`wants_step` asks ahead of a step whether the callback must see it in detail;
      only then does it get ``on_step_begin``/``on_step_end`` (and the step leaves the
      fast path: a watched step runs on autograd with the network's modules). A callback
      that knows at an epoch's start which steps it may want names them in
      :meth:`steps_wanted`, and is then asked only before those.
    - :meth:`before_step` is told of every step, watched or not, without changing how it
      runs: for callbacks that time or count steps
      (:class:`~trainwell.train.step_profile.StepProfiler`, the live progress bar).
    """

    def wants_step(self, run: RunState) -> bool:
        """Whether this callback must see the coming step (``run.step``) in detail."""
        return False

    def steps_wanted(self, run: RunState) -> frozenset[int] | None:
        """The steps of the epoch about to be trained (0-based, ``run.step`` is its first) before
        which :meth:`wants_step` may answer yes, known at its start; ``None`` (the default): ask
        before every step. The loop then asks only before those steps.
        """
        return None

    def before_step(self, run: RunState, index: int, watched: bool) -> None:
        """Called before every step of an epoch, watched or not (so it must be cheap).

        Parameters
        ----------
        run : RunState
        index : int
            The step's place in the epoch (``0 .. run.steps_per_epoch - 1``).
        watched : bool
            Whether some callback watches this step (it then runs on autograd).
        """

    def on_fit_begin(self, run: RunState) -> None: ...

    def on_epoch_begin(self, run: RunState) -> None: ...

    def on_step_begin(self, run: RunState) -> None:
        """Called before a step this callback asked for with :meth:`wants_step`."""

    def on_step_end(self, run: RunState) -> None:
        """Called after a step this callback asked for; ``run.batch_loss`` is set."""

    def on_epoch_end(self, run: RunState) -> None:
        """Called after validation; ``run.history[-1]`` holds the epoch's numbers."""

    def on_fit_end(self, run: RunState) -> None: ...


def overrides(callback: object, event: str) -> bool:
    """Whether ``callback`` has its own ``event`` method, not :class:`Callback`'s no-op.

    The loop asks once per call, so the per-step events (:meth:`Callback.wants_step`,
    :meth:`Callback.before_step`) cost nothing for callbacks that do not use them. A
    duck-typed callback (not a :class:`Callback`) counts when it has the method at all.
    """
    method = getattr(callback, event, None)
    if method is None:
        return False
    return getattr(method, "__func__", method) is not getattr(Callback, event)


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
        self.best_state_epoch: int | None = None
        self.wait = 0
        self._live: dict[str, torch.Tensor] = {}

    def on_fit_begin(self, run: RunState) -> None:
        self.best = math.inf
        self.best_state = None
        self.best_state_epoch = None
        self.wait = 0
        # the parameters and buffers themselves, read once (state_dict() walks the modules in
        # Python, which a small table's short epochs would pay at every improvement)
        self._live = run.net.state_dict(keep_vars=True)

    def on_epoch_end(self, run: RunState) -> None:
        value = run.history[-1].get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if value < self.best - self.min_delta * abs(self.best if math.isfinite(self.best) else value):
            self.best = value
            self.wait = 0
            run.best_epoch = run.epoch
            # tensor clones, not copy.deepcopy: the same values at a tenth of the cost (0.08 ms
            # against 0.8 ms for the default MLP); after the first, one fused copy into them
            best = self.best_state
            if best is None or best.keys() != self._live.keys() or any(
                    best[k].shape != v.shape for k, v in self._live.items()):  # first, or restored from a checkpoint
                self.best_state = {k: v.detach().clone() for k, v in self._live.items()}
            else:
                with torch.no_grad():
                    torch._foreach_copy_([best[k] for k in self._live], list(self._live.values()))
            self.best_state_epoch = run.epoch
        else:
            self.wait += 1
            if self.wait >= self.patience:
                run.stop_requested = True
                run.stop_reason = (
                    f"early stopping: {self.monitor} did not improve for {self.patience} epochs; "
                    f"restored the weights of epoch {run.best_epoch}"
                )

    def on_fit_end(self, run: RunState) -> None:
        diverged = run.diverged
        if diverged is not None and (self.best_state_epoch or 0) >= diverged["epoch"]:
            # the "best" validation loss came from the epoch that blew up (finite, so it counted):
            # keep the weights the divergence guard put back instead
            run.best_epoch = diverged["restored_epoch"]
            return
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
