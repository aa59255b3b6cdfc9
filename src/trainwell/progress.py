"""Progress for the command line, with rich.

:class:`EpochTable` prints one aligned row per epoch (loss, validation loss, accuracy or R²,
learning rate, seconds). :class:`LiveProgress` adds, on a terminal, a live bar under those
rows: epoch, batch progress within the epoch, the latest losses and accuracy, and an ETA.
Where the output is not a terminal (a CI log, a file) only the rows come out, as plain
text; with a quiet console nothing does. In Jupyter rich's console is not a terminal either,
so :class:`LiveProgress` prints the rows there too, with no carriage returns.

:class:`NotebookProgress` is the estimators' ``verbose=1`` in Jupyter (:func:`in_notebook`): one
output that is redrawn in place (IPython's ``display(..., display_id=True)`` and ``update``)
with a progress bar, the latest epochs and the ETA, instead of a printed line per epoch.

The bar costs the training loop nothing measurable: it is updated about ten times an epoch
from :meth:`LiveProgress.before_step`, which the loop calls before every step without
watching it, so no step leaves the fast path and nothing is read from the device between
epochs.
"""

from __future__ import annotations

import atexit
import html
import math
import sys
import time
from typing import Any

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


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ``ZMQInteractiveShell``: notebooks,
    JupyterLab, VS Code). IPython is not imported when it is not loaded already."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _ProgressView:
    """What :class:`NotebookProgress` displays: HTML for Jupyter, one line of text elsewhere."""

    def __init__(self, text: str, page: str) -> None:
        self.text, self.page = text, page

    def _repr_html_(self) -> str:
        return self.page

    def __repr__(self) -> str:
        return self.text


class NotebookProgress(Callback):
    """Training progress in Jupyter: one HTML output redrawn in place, never a line per redraw.

    It shows a progress bar over the epochs, the batch within the epoch, the latest metrics and
    an ETA, and a table of the last ``rows`` epochs (``*`` marks the best so far); when the fit
    ends, why it stopped. The output is redrawn at most every ``min_interval`` seconds (and
    at the end), so a fit of many short epochs does not flood the notebook.

    Parameters
    ----------
    max_epochs : int, optional
        Epochs the run may take (default: the training config's).
    rows : int, default=8
        Epochs listed in the table.
    min_interval : float, default=0.25
        Least time in seconds between two redraws.
    display : callable, optional
        ``display(obj, display_id=True)`` returning a handle with ``update(obj)``; IPython's
        by default (tests give their own).
    """

    def __init__(self, max_epochs: int | None = None, rows: int = 8, min_interval: float = 0.25,
                 display: Any = None) -> None:
        self.max_epochs = max_epochs
        self.rows = max(1, int(rows))
        self.min_interval = float(min_interval)
        self._display = display
        self._handle: Any = None
        self.draws = 0  # redraws in this fit (tests read it)

    def _view(self, run: RunState, done: int, final: bool = False) -> _ProgressView:
        history = list(run.history)
        shown = min(max(run.epoch, self._start_epoch + 1), self._last_epoch)
        elapsed = time.perf_counter() - self._t0
        # epochs done in this fit: run.epoch is the epoch under way (or just ended)
        started = run.epoch - self._start_epoch
        finished = float(started) if final else max(started - 1, 0) + (done / self._steps if started > 0 else 0.0)
        parts = [f"epoch {shown}/{self._last_epoch}"]
        if not final:
            parts.append(f"batch {done}/{self._steps}")
        if history:
            parts.append(summary(history[-1]))
        remaining = max(self._last_epoch - self._start_epoch - finished, 0.0)
        eta = f"{_clock(elapsed)} elapsed" + (
            f", at most {_clock(elapsed / finished * remaining)} left" if finished > 0 and not final else "")
        parts.append(eta)
        value = self._last_epoch if final else min(self._start_epoch + finished, self._last_epoch)
        bar = f'<progress value="{value:.3f}" max="{self._last_epoch}" style="width:260px"></progress>'
        text = "  ·  ".join(parts)
        if final:
            text += "\n" + (run.stop_reason or f"finished {started} epoch{'' if started == 1 else 's'}")
        line = html.escape(text).replace("\n", "<br>")
        return _ProgressView(text, f'<div class="trainwell-progress">{bar} <code>{line}</code>{self._table(run, history)}</div>')

    def _table(self, run: RunState, history: list[dict]) -> str:
        if not history:
            return ""
        keys = [k for k in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "train_r2", "val_r2")
                if history[-1].get(k) is not None]
        head = "".join(f"<th>{html.escape(k)}</th>" for k in ("epoch", *keys, "lr", "sec"))
        body = []
        for row in history[-self.rows:]:
            best = " *" if run.best_epoch == row["epoch"] else ""
            cells = [f"{row['epoch']}{best}", *(f"{row[k]:.4f}" if row.get(k) is not None else "" for k in keys),
                     f"{row['lr']:.2e}", f"{row['seconds']:.2f}"]
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        return f'<table style="font-size:90%"><tr>{head}</tr>{"".join(body)}</table>'

    def _draw(self, run: RunState, done: int, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and now - self._drawn < self.min_interval:
            return
        page = self._view(run, done, final)
        if self._handle is None:
            self._handle = self._show(page, display_id=True)
        else:
            self._handle.update(page)
        self._drawn = now
        self.draws += 1

    def on_fit_begin(self, run: RunState) -> None:
        self._show = self._display
        if self._show is None:
            from IPython.display import display

            self._show = display
        self._handle = None
        self.draws = 0
        self._t0 = time.perf_counter()
        self._drawn = -math.inf
        self._start_epoch = run.epoch
        self._last_epoch = self.max_epochs or getattr(run.config, "max_epochs", None) or run.epoch + 1
        self._steps = max(int(run.steps_per_epoch), 1)
        self._stride = max(1, math.ceil(self._steps / 10))
        self._draw(run, 0)

    def on_epoch_begin(self, run: RunState) -> None:
        self._steps = max(int(run.steps_per_epoch), 1)
        self._stride = max(1, math.ceil(self._steps / 10))

    def before_step(self, run: RunState, index: int, watched: bool) -> None:
        """Redraw every tenth of an epoch at most (and no more often than ``min_interval``)."""
        if index and index % self._stride == 0:
            self._draw(run, index)

    def on_epoch_end(self, run: RunState) -> None:
        self._draw(run, self._steps)

    def on_fit_end(self, run: RunState) -> None:
        self._draw(run, self._steps, final=True)
        self._handle = None  # nothing of the notebook stays in the run
