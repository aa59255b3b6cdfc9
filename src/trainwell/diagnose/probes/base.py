"""What every sampling probe shares: its schedule and where it writes in the history.

A probe watches ``per_epoch`` steps of a watched epoch, spread evenly through it (the first
step of the epoch is always one of them). The loop asks :meth:`SampledProbe.wants_step`
before each step, so the steps nobody watches stay on the fast path (see
``docs/architecture.md``, "The hot loop").

Every epoch is watched when epochs are long. When they are short (a small table: 3 to 20
steps an epoch), two watched steps would be a large share of the run: a watched step's
records cost several times the step (and on a network the fast step does not take, it runs
on autograd with hooks), and its epoch then builds histograms. There the
probes watch every ``stride``-th epoch (:func:`epoch_stride`), always the first, so the
watched steps stay near :data:`WATCH_SHARE` (2.5 %) of all steps; epochs in between have no
per-layer record, and the advice and the report read the epochs that have one.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch

from ...train.callbacks import Callback, RunState

#: Key of the per-layer statistics in a history row: ``row["layers"][layer_name][stat]``.
LAYERS_KEY = "layers"


#: Share of a run's steps the sampled probes aim to watch when epochs are short.
WATCH_SHARE = 0.025
#: Most epochs between two watched ones (and at least a tenth of ``max_epochs`` are watched).
MAX_EPOCH_STRIDE = 8


@functools.lru_cache(maxsize=256)  # every probe asks at every epoch, always with the run's same three numbers
def epoch_stride(watched_per_epoch: int, steps_per_epoch: int, max_epochs: int) -> int:
    """Watch every ``stride``-th epoch: 1 on long epochs, more on short ones.

    The stride keeps the watched steps near :data:`WATCH_SHARE` of all steps, but never
    above :data:`MAX_EPOCH_STRIDE`, nor above a tenth of ``max_epochs`` (a 10-epoch run
    is watched every epoch).

    Measured on small tables (one thread, AMD EPYC): watching two steps of every epoch
    doubled the fit of ``load_wine`` (8 steps an epoch: 0.17 s unwatched, 0.37-0.48 s
    watched). Fits with all monitors, median of 5 (iris, diabetes, Titanic, ANES96):
    0.120 / 0.166 / 0.376 / 0.268 s unwatched; share 5 %: 0.155 / 0.217 / 0.482 / 0.317 s;
    2.5 %: 0.150 / 0.190 / 0.460 / 0.297 s; 1.25 %: 0.143 / 0.191 / 0.429 / 0.305 s (what is
    left is the epochs' own bookkeeping). ``bench/scenarios.py`` scores the advice with the
    stride in place: unchanged.
    """
    n = max(int(steps_per_epoch), 1)
    k = min(max(int(watched_per_epoch), 1), n)
    stride = math.ceil(k / (WATCH_SHARE * n))
    return max(1, min(stride, MAX_EPOCH_STRIDE, max(1, int(max_epochs) // 10)))


def watched_epoch(run: RunState, per_epoch: int = 2) -> bool:
    """Whether the sampled probes (``per_epoch`` steps each) watch the epoch ``run`` is in."""
    n = max(int(run.steps_per_epoch), 1)
    max_epochs = getattr(run.config, "max_epochs", 0) or 0
    return (run.epoch - 1) % epoch_stride(per_epoch, n, max_epochs) == 0  # run.epoch counts from 1 in an epoch


@functools.lru_cache(maxsize=256)
def _spread(n: int, k: int) -> frozenset[int]:
    """``k`` evenly spread steps of an epoch of ``n``."""
    return frozenset(i * n // k for i in range(k))


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
        # none in an epoch between two watched ones
        self._chosen = _spread(n, k) if watched_epoch(run, k) else frozenset()
        self.reset(run)

    def wants_step(self, run: RunState) -> bool:
        return (run.step - self._first_step) in self._chosen

    def steps_wanted(self, run: RunState) -> frozenset[int] | None:
        return self._chosen

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
