"""Regression targets the output cannot produce, seen in the training batches themselves.

For a regressor with a squashing output (``sigmoid`` or ``tanh``), the fraction of the
(scaled) training targets outside the output's range is recorded as
``row["targets_outside_output"]``: such targets can never be fitted, and chasing them
saturates the output unit.
"""

from __future__ import annotations

import torch
from torch import nn

from ...train.callbacks import RunState
from .base import SampledProbe

OUTPUT_RANGES = {nn.Sigmoid: (0.0, 1.0), nn.Tanh: (-1.0, 1.0)}


class TargetRangeProbe(SampledProbe):
    """Count targets outside the output activation's range on one step per epoch."""

    def __init__(self, per_epoch: int = 1) -> None:
        super().__init__(per_epoch)
        self._range: tuple[float, float] | None = None

    def on_fit_begin(self, run: RunState) -> None:
        out = getattr(run.net, "output_activation", None)
        self._range = next((r for cls, r in OUTPUT_RANGES.items() if isinstance(out, cls)), None)

    def wants_step(self, run: RunState) -> bool:
        return self._range is not None and super().wants_step(run)

    def reset(self, run: RunState) -> None:
        self._outside: list[torch.Tensor] = []

    def on_step_begin(self, run: RunState) -> None:
        lo, hi = self._range
        yb = run.batch[1]
        self._outside.append(((yb < lo) | (yb > hi)).float().mean())

    def on_epoch_end(self, run: RunState) -> None:
        if self._outside:
            run.history[-1]["targets_outside_output"] = torch.stack(self._outside).mean().item()
