"""TensorBoard event files during training: scalars and histograms, once per epoch.

TensorBoard is where many users already look, so a run can write there as well as into its
report. Everything is written at the end of an epoch from what the history row already
holds (the loop has synchronised with the device by then); the steps are never watched,
so logging costs the fast path nothing. Needs the ``tensorboard`` package.

Tags
----
``loss/train``, ``loss/val``, ``accuracy/…`` or ``r2/…``, ``lr``, ``seconds``, other run-level
columns under ``run/…``; with the diagnostics monitors, per-layer statistics as
``<stat>/<layer>`` (e.g. ``update_ratio/dense1``) and histograms ``activations/<layer>``,
``gradients/<layer>``; and ``weights/<parameter>`` histograms of every weight matrix.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..diagnose.probes.base import LAYERS_KEY
from ..exceptions import ConfigError
from ..train.callbacks import Callback, RunState

_GROUPED = {
    "train_loss": "loss/train", "val_loss": "loss/val",
    "train_accuracy": "accuracy/train", "val_accuracy": "accuracy/val",
    "train_r2": "r2/train", "val_r2": "r2/val", "lr": "lr", "seconds": "seconds",
}
_HISTOGRAMS = {"act_hist": "activations", "grad_hist": "gradients"}


def _summary_writer():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("tensorboard=True needs the tensorboard package; install it with 'pip install tensorboard'.") from None
    return SummaryWriter


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class TensorBoardLogger(Callback):
    """Write a TensorBoard event file for the run.

    Parameters
    ----------
    log_dir : str or path-like, optional
        Folder for the event files; by default TensorBoard's own ``runs/<date>_<host>``.
    weights : bool, default=True
        Also write a histogram of every weight matrix each epoch.

    Attributes
    ----------
    log_dir : Path or None
        Where the events went (set when training starts).
    """

    def __init__(self, log_dir: str | os.PathLike | None = None, weights: bool = True) -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.weights = weights
        self._writer = None

    def on_fit_begin(self, run: RunState) -> None:
        writer_cls = _summary_writer()
        if self._writer is None:
            self._writer = writer_cls(log_dir=None if self.log_dir is None else str(self.log_dir))
            self.log_dir = Path(self._writer.log_dir)

    def on_epoch_end(self, run: RunState) -> None:
        writer, row = self._writer, run.history[-1]
        if writer is None:
            return
        step = int(row.get("epoch", run.epoch))
        for key, value in row.items():
            if _number(value) and key != "epoch":
                writer.add_scalar(_GROUPED.get(key, f"run/{key}"), value, step)
        for layer, stats in (row.get(LAYERS_KEY) or {}).items():
            for stat, value in stats.items():
                if _number(value):
                    writer.add_scalar(f"{stat}/{layer}", value, step)
                elif stat in _HISTOGRAMS and value:
                    self._add_binned(f"{_HISTOGRAMS[stat]}/{layer}", value, step)
        if self.weights:
            for name, param in run.net.named_parameters():
                if param.ndim >= 2:
                    values = param.detach().float().cpu().numpy()
                    if np.isfinite(values).all():
                        writer.add_histogram(f"weights/{name}", values, step)

    def _add_binned(self, tag: str, hist: dict[str, list[float]], step: int) -> None:
        """A histogram the probes already binned, as TensorBoard's raw histogram (bin centres for the moments)."""
        edges = np.asarray(hist["edges"], dtype=float)
        counts = np.asarray(hist["counts"], dtype=float)
        if counts.sum() <= 0 or not np.isfinite(edges).all():
            return
        centres = (edges[1:] + edges[:-1]) / 2
        self._writer.add_histogram_raw(
            tag, min=float(edges[0]), max=float(edges[-1]), num=int(counts.sum()),
            sum=float((centres * counts).sum()), sum_squares=float((centres**2 * counts).sum()),
            bucket_limits=edges[1:].tolist(), bucket_counts=counts.tolist(), global_step=step,
        )

    def on_fit_end(self, run: RunState) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the event file (training calls this at its end)."""
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None

    def move_into(self, folder: str | os.PathLike) -> None:
        """Move the finished event files to ``folder`` (e.g. the ``tensorboard`` folder of a run folder).

        Usable as a writer of :func:`trainwell._files.write_atomic_folder`, so the events
        arrive with the rest of the run folder.
        """
        self.close()
        if self.log_dir is None or not self.log_dir.exists():
            return
        shutil.move(str(self.log_dir), str(folder))
        self.log_dir = Path(folder)


def live_log_dir(run_dir: str | os.PathLike) -> Path:
    """Where a run's events go while it trains: ``<run_dir>.tensorboard-live`` beside the run folder.

    A run folder is written whole at the end of a fit (never half-written), so the events
    of a run in progress live beside it, where ``tensorboard --logdir`` can watch them, and
    :meth:`TensorBoardLogger.move_into` moves them into the run folder at the end.
    """
    path = Path(run_dir)
    live = path.with_name(path.name + ".tensorboard-live")
    if live.exists():
        shutil.rmtree(live)  # the events of an earlier, interrupted run of the same folder
    return live


def scalar_events(log_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Read back the scalars of an event folder: ``{tag: [(step, value), ...]}``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return {tag: [(e.step, e.value if math.isfinite(e.value) else math.nan) for e in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]}
