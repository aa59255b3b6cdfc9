"""Progress for the command line, with rich.

:class:`EpochTable` prints one aligned row per epoch (loss, validation loss, accuracy or R²,
learning rate, seconds). :class:`LiveProgress` adds, on a terminal, a live bar under those
rows: epoch, batch progress within the epoch, the latest losses and accuracy, and an ETA.
Where the output is not a terminal (a CI log, a file) only the rows come out, as plain
text; with a quiet console nothing does.

The bar costs the training loop nothing measurable: it is updated about ten times an epoch
from :meth:`LiveProgress.before_step`, which the loop calls before every step without
watching it, so no step leaves the fast path and nothing is read from the device between
epochs.
"""

from __future__ import annotations

import atexit
import math
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from .train import Callback, RunState


class EpochTable(Callback):
    """Print a header once and then one aligned row per epoch."""

    def __init__(self, console: Console | None = None, max_epochs: int | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.max_epochs = max_epochs
        self._header_done = False

    def _columns(self, row: dict) -> list[str]:
        keys = ["train_loss", "val_loss", "train_accuracy", "val_accuracy", "train_r2", "val_r2"]
        return [k for k in keys if row.get(k) is not None]

    def on_fit_begin(self, run: RunState) -> None:
        self._header_done = False

    def on_epoch_end(self, run: RunState) -> None:
        row = run.history[-1]
        cols = self._columns(row)
        if not self._header_done:
            header = f"{'epoch':>6} " + " ".join(f"{c:>14}" for c in cols) + f" {'lr':>9} {'sec':>6}"
            if "val_loss" in cols:  # early stopping keeps the epoch marked last
                header += "  (* best val_loss so far)"
            self.console.print(f"[bold]{header}[/bold]")
            self._header_done = True
        best = " *" if run.best_epoch == run.epoch else ""
        line = f"{row['epoch']:>6} " + " ".join(f"{row[c]:>14.4f}" for c in cols)
        line += f" {row['lr']:>9.2e} {row['seconds']:>6.2f}{best}"
        self.console.print(line)

    def on_fit_end(self, run: RunState) -> None:
        if run.stop_reason:
            self.console.print(f"[dim]{run.stop_reason}[/dim]")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def summary(row: dict) -> str:
    """The latest epoch in a few words: ``loss 0.1234  val 0.1456  val acc 97.2%``."""
    parts = [f"loss {row['train_loss']:.4g}"]
    if row.get("val_loss") is not None:
        parts.append(f"val {row['val_loss']:.4g}")
    for key, label in (("val_accuracy", "val acc"), ("train_accuracy", "acc")):
        if row.get(key) is not None:
            parts.append(f"{label} {100 * row[key]:.1f}%")
            break
    else:
        for key, label in (("val_r2", "val R²"), ("train_r2", "R²")):
            if row.get(key) is not None:
                parts.append(f"{label} {row[key]:.3f}")
                break
    return "  ".join(parts)


class LiveProgress(EpochTable):
    """Per-epoch rows plus, on a terminal, a live bar with batch progress, metrics and ETA.

    Parameters
    ----------
    console : rich.console.Console, optional
        Where to draw (default: stderr). A quiet console shows nothing; a console that is
        not a terminal gets the plain per-epoch rows only.
    max_epochs : int, optional
        Epochs the run may take, for the bar and the ETA (default: the training config's).
        With early stopping the run may end sooner, so the ETA is an upper bound.
    updates_per_epoch : int, default=10
        How often the bar moves within an epoch.
    """

    def __init__(self, console: Console | None = None, max_epochs: int | None = None,
                 updates_per_epoch: int = 10) -> None:
        super().__init__(console, max_epochs)
        self.updates_per_epoch = max(1, int(updates_per_epoch))
        self._progress: Progress | None = None
        self._task = None
        self.updates = 0  # bar updates drawn in this fit (tests read it)

    @property
    def live(self) -> bool:
        """Whether the bar is shown (a terminal that is not quiet)."""
        return self.console.is_terminal and not self.console.quiet

    def on_fit_begin(self, run: RunState) -> None:
        super().on_fit_begin(run)
        self.updates = 0
        self._t0 = time.perf_counter()
        self._start_epoch = run.epoch
        self._last_epoch = self.max_epochs or getattr(run.config, "max_epochs", None) or run.epoch + 1
        self._steps = max(int(run.steps_per_epoch), 1)
        self._stride = max(1, math.ceil(self._steps / self.updates_per_epoch))
        if not self.live:
            return
        # no redirection of stdout/stderr and no refresh thread: the bar is drawn only when
        # it changes, from the training thread, and leaves the process's streams alone
        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[last]}"),
            BarColumn(bar_width=30),
            TextColumn("batch {task.completed:>.0f}/{task.total:.0f}"),
            TextColumn("{task.fields[metrics]}"),
            TextColumn("[dim]{task.fields[eta]}[/dim]"),
            console=self.console, auto_refresh=False, transient=True,
            redirect_stdout=False, redirect_stderr=False,
        )
        self._task = self._progress.add_task("training", total=self._steps, epoch=run.epoch + 1,
                                             last=self._last_epoch, metrics="", eta="")
        self._progress.start()
        atexit.register(self._stop)  # an exception inside fit must not leave the cursor hidden

    def _eta(self, epoch: int, done: int) -> str:
        finished = (epoch - 1 - self._start_epoch) + done / self._steps
        if finished <= 0:
            return ""
        elapsed = time.perf_counter() - self._t0
        remaining = max(self._last_epoch - (epoch - 1) - done / self._steps, 0.0)
        return f"{_clock(elapsed)} elapsed, at most {_clock(elapsed / finished * remaining)} left"

    def _draw(self, run: RunState, done: int, **fields) -> None:
        self._progress.update(self._task, completed=done, total=self._steps, epoch=run.epoch,
                              eta=self._eta(run.epoch, done), **fields)
        self._progress.refresh()
        self.updates += 1

    def on_epoch_begin(self, run: RunState) -> None:
        self._steps = max(int(run.steps_per_epoch), 1)
        self._stride = max(1, math.ceil(self._steps / self.updates_per_epoch))
        if self._progress is not None:
            self._draw(run, 0)

    def before_step(self, run: RunState, index: int, watched: bool) -> None:
        """Move the bar every ``1/updates_per_epoch`` of an epoch (``index`` steps are done)."""
        if self._progress is not None and index and index % self._stride == 0:
            self._draw(run, index)

    def on_epoch_end(self, run: RunState) -> None:
        super().on_epoch_end(run)
        if self._progress is not None:
            self._draw(run, self._steps, metrics=summary(run.history[-1]))

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        atexit.unregister(self._stop)

    def on_fit_end(self, run: RunState) -> None:
        self._stop()
        super().on_fit_end(run)
