"""Per-epoch progress for the command line, with rich.

One row per epoch (loss, validation loss, accuracy or R², learning rate, seconds). On a
terminal rich colours it; in a log file (CI) the same rows come out as plain text.
"""

from __future__ import annotations

from rich.console import Console

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
            self.console.print(f"[bold]{header}[/bold]")
            self._header_done = True
        best = " *" if run.best_epoch == run.epoch else ""
        line = f"{row['epoch']:>6} " + " ".join(f"{row[c]:>14.4f}" for c in cols)
        line += f" {row['lr']:>9.2e} {row['seconds']:>6.2f}{best}"
        self.console.print(line)

    def on_fit_end(self, run: RunState) -> None:
        if run.stop_reason:
            self.console.print(f"[dim]{run.stop_reason}[/dim]")
