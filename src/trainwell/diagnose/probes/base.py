"""What every sampling probe shares: its schedule and where it writes in the history.

A probe watches ``per_epoch`` steps of every epoch, spread evenly through it (the first
step of the epoch is always one of them). The loop asks :meth:`SampledProbe.wants_step`
before each step, so the steps nobody watches stay on the fast path (see
``docs/architecture.md``, "The hot loop").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...train.callbacks import Callback, RunState

#: Key of the per-layer statistics in a history row: ``row["layers"][layer_name][stat]``.
LAYERS_KEY = "layers"


class SampledProbe(Callback):
    """A callback that looks at ``per_epoch`` evenly spread steps of each epoch.

    Parameters
    ----------
    per_epoch : int
        Steps watched per epoch (fewer when an epoch has fewer steps).
    """

    def __init__(self, per_epoch: int = 2) -> None:
        if per_epoch < 1:
            raise ValueError(f"per_epoch={per_epoch!r} must be at least 1.")
        self.per_epoch = per_epoch
        self._first_step = 0
        self._chosen: frozenset[int] = frozenset()

    def on_epoch_begin(self, run: RunState) -> None:
        self._first_step = run.step
        n = max(int(run.steps_per_epoch), 1)
        k = min(self.per_epoch, n)
        self._chosen = frozenset(i * n // k for i in range(k))
        self.reset(run)

    def wants_step(self, run: RunState) -> bool:
        return (run.step - self._first_step) in self._chosen

    def reset(self, run: RunState) -> None:
        """Forget the previous epoch's samples (called at the start of each epoch)."""


class LayerHistogramProbe(SampledProbe):
    """A sampled probe that keeps per-layer value samples for histograms.

    Parameters
    ----------
    per_epoch : int
        Steps watched per epoch.
    sample_size : int
        Values kept per layer and step for the histogram.
    bins : int
        Histogram bins.
    """

    def __init__(self, per_epoch: int = 2, sample_size: int = 1024, bins: int = 30) -> None:
        super().__init__(per_epoch)
        self.sample_size = sample_size
        self.bins = bins
        self._layers: list = []


def layer_row(run: RunState, layer: str) -> dict[str, Any]:
    """The dict of one layer's statistics in the current epoch's history row."""
    return run.history[-1].setdefault(LAYERS_KEY, {}).setdefault(layer, {})


def subsample(t: torch.Tensor, size: int) -> torch.Tensor:
    """About ``size`` values of ``t`` taken at a fixed stride, as a float32 copy on its device.

    A stride, not random indices: drawing from torch's generator would change the
    run's dropout and shuffling, and a watched run must train exactly like an unwatched one.
    """
    flat = t.detach().reshape(-1)
    stride = max(1, flat.numel() // size)
    return flat[::stride][:size].float().clone()


def histogram(samples: list[torch.Tensor], bins: int) -> dict[str, list[float]] | None:
    """Histogram of the finite sampled values: ``{"edges": [...], "counts": [...]}``."""
    if not samples:
        return None
    values = torch.cat(samples).cpu().numpy()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    try:
        counts, edges = np.histogram(values, bins=bins)
    except ValueError:
        # float32 values near its limits (a diverging run's gradients) overflow the range
        # max - min in float32; float64 holds it
        counts, edges = np.histogram(values.astype(np.float64), bins=bins)
    return {"edges": edges.tolist(), "counts": counts.tolist()}
