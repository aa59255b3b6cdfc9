"""Weight statistics per layer once per epoch, and the first layer's weights for pictures.

Recorded under ``row["layers"][name]``:

``weight_norm``
    L2 norm of the layer's weights.
``weight_rms``
    The same divided by ``sqrt(number of weights)``.
``row_spread``
    How much the units of a layer differ: the mean over inputs of the standard deviation
    across units, divided by the mean absolute weight. Random weights give about 1.25;
    0 means every unit has the same weights (symmetric units, which cannot learn
    different things: the notes' zero-initialisation trap). ``nan`` for one-unit layers.

``run.initial_weight_rms`` maps each layer to its weight rms before training.
And in ``run.first_layer_weights``: ``{"layer", "initial", "final"}``, the first
weight layer's weights as numpy arrays at the start and at the end of training.
"""

from __future__ import annotations

import math

import torch

from ...train.callbacks import Callback, RunState
from .base import layer_row, watched_epoch
from .layers import Layer, find_layers


def layer_norm(layer: Layer) -> torch.Tensor:
    """L2 norm over all of a layer's weight tensors (a device scalar)."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(w.detach().float()) for w in layer.weights]))


def layer_size(layer: Layer) -> int:
    return sum(w.numel() for w in layer.weights)


def row_spread(weight: torch.Tensor) -> torch.Tensor:
    """Spread of a weight tensor across its units (dim 0), relative to its size (0 = symmetric)."""
    w = weight.detach().float().reshape(weight.shape[0], -1)
    if w.shape[0] < 2:
        return torch.full((), float("nan"), device=w.device)
    return w.std(dim=0, unbiased=False).mean() / w.abs().mean().clamp_min(1e-30)


class WeightProbe(Callback):
    """Per-layer weight norms and unit symmetry at the end of every epoch the sampled probes watch.

    Every epoch on long epochs; on short ones every few (:func:`.base.epoch_stride`), with
    the activation and gradient records they are compared with.
    """

    def __init__(self) -> None:
        self._layers: list[Layer] = []

    def on_fit_begin(self, run: RunState) -> None:
        self._layers = find_layers(run.net)
        if run.initial_weight_rms is None:  # a continued run (partial_fit) keeps the first one
            norms = torch.stack([layer_norm(layer) for layer in self._layers]).tolist() if self._layers else []
            run.initial_weight_rms = {
                layer.name: norm / math.sqrt(layer_size(layer)) for layer, norm in zip(self._layers, norms, strict=True)
            }
        if self._layers and run.first_layer_weights is None:
            first = self._layers[0]
            run.first_layer_weights = {
                "layer": first.name,
                "initial": first.weights[0].detach().float().cpu().numpy().copy(),
                "final": None,
            }

    def on_epoch_end(self, run: RunState) -> None:
        if not self._layers or not watched_epoch(run):
            return
        stats = []
        for layer in self._layers:
            stats.append(torch.stack([layer_norm(layer), row_spread(layer.weights[0])]))
        values = torch.stack(stats).tolist()
        for layer, (norm, spread) in zip(self._layers, values, strict=True):
            row = layer_row(run, layer.name)
            row["weight_norm"] = norm
            row["weight_rms"] = norm / math.sqrt(layer_size(layer))
            row["row_spread"] = spread

    def on_fit_end(self, run: RunState) -> None:
        snapshot = run.first_layer_weights
        if snapshot is not None and self._layers:
            snapshot["final"] = self._layers[0].weights[0].detach().float().cpu().numpy().copy()
