"""The update/weight ratio per layer on sampled steps (cs231n: healthy near 1e-3).

Recorded under ``row["layers"][name]``:

``update_ratio``
    ``||w_after - w_before|| / ||w_before||`` over the layer's weights, averaged over the
    epoch's sampled steps: the whole step the optimizer took (learning rate, momentum,
    Adam's scaling and weight decay included). ``nan`` when the weights are all zero.
"""

from __future__ import annotations

import torch

from ...train.callbacks import RunState
from .base import SampledProbe, layer_row
from .layers import Layer, find_layers


class UpdateRatioProbe(SampledProbe):
    """Snapshot the weights before a sampled step and compare after it.

    Parameters
    ----------
    per_epoch : int
        Steps watched per epoch.
    """

    def __init__(self, per_epoch: int = 2) -> None:
        super().__init__(per_epoch)
        self._layers: list[Layer] = []
        self._weights: list[torch.Tensor] = []
        self._before: list[torch.Tensor] = []

    def on_fit_begin(self, run: RunState) -> None:
        self._layers = find_layers(run.net)
        self._weights = [w for layer in self._layers for w in layer.weights]
        owner = [i for i, layer in enumerate(self._layers) for _ in layer.weights]
        device = self._weights[0].device if self._weights else None
        self._owner = torch.tensor(owner, dtype=torch.long, device=device)

    def reset(self, run: RunState) -> None:
        self._ratios: list[torch.Tensor] = []

    def wants_step(self, run: RunState) -> bool:
        return bool(self._weights) and super().wants_step(run)

    def on_step_begin(self, run: RunState) -> None:
        # a copy: with flat parameters the weights are views that the step updates in place
        self._before = [w.detach().clone() for w in self._weights]

    def on_step_end(self, run: RunState) -> None:
        after = [w.detach() for w in self._weights]
        deltas = torch._foreach_sub(after, self._before)
        delta_sq = torch.stack(torch._foreach_norm(deltas)).float() ** 2
        weight_sq = torch.stack(torch._foreach_norm(self._before)).float() ** 2
        n = len(self._layers)
        per_delta = torch.zeros(n, device=delta_sq.device).index_add_(0, self._owner, delta_sq).sqrt()
        per_weight = torch.zeros(n, device=delta_sq.device).index_add_(0, self._owner, weight_sq).sqrt()
        nan = torch.full_like(per_weight, float("nan"))
        self._ratios.append(torch.where(per_weight > 0, per_delta / per_weight.clamp_min(1e-30), nan))
        self._before = []

    def on_epoch_end(self, run: RunState) -> None:
        if not self._ratios:
            return
        ratios = torch.stack(self._ratios).mean(0).tolist()
        for layer, ratio in zip(self._layers, ratios, strict=True):
            layer_row(run, layer.name)["update_ratio"] = ratio
