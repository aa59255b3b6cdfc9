"""Activation statistics per layer on sampled steps: the notes' "activation distributions".

Recorded under ``row["layers"][name]`` for every hidden layer:

``act_mean``, ``act_std``
    Mean and standard deviation of the layer's activations (after the non-linearity).
``act_hist``
    Histogram ``{"edges", "counts"}`` of a strided sample of the activations.
``dead_fraction`` (ReLU family)
    Fraction of units (channels for a conv layer) whose output was never positive over
    all the epoch's sampled batches: a dead ReLU gets no gradient and rarely recovers.
``saturated_fraction`` (tanh, sigmoid)
    Fraction of activations in the flat tails (``|tanh| > 0.99``; sigmoid below 0.01 or
    above 0.99), where the local gradient is almost zero.
"""

from __future__ import annotations

import torch

from ...train.callbacks import RunState
from ...train.fast_mlp import observer
from .base import LayerHistogramProbe, histogram, layer_row, subsample
from .layers import Layer, find_layers


class ActivationProbe(LayerHistogramProbe):
    """Hook the activation modules on sampled steps and summarise what they output.

    Parameters: see :class:`~.base.LayerHistogramProbe` (activation values are sampled).
    """

    def __init__(self, per_epoch: int = 2, sample_size: int = 1024, bins: int = 30) -> None:
        super().__init__(per_epoch, sample_size, bins)
        self._handles: list = []

    def on_fit_begin(self, run: RunState) -> None:
        self._layers = [layer for layer in find_layers(run.net) if layer.activation is not None]

    def reset(self, run: RunState) -> None:
        self._moments: dict[str, list[torch.Tensor]] = {layer.name: [] for layer in self._layers}
        self._samples: dict[str, list[torch.Tensor]] = {layer.name: [] for layer in self._layers}
        self._ever_positive: dict[str, torch.Tensor] = {}

    def on_step_begin(self, run: RunState) -> None:
        self._handles = [layer.activation.register_forward_hook(self._hook(layer)) for layer in self._layers]

    def on_step_end(self, run: RunState) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, layer: Layer):
        def hook(module, inputs, output):
            a = output.detach().float()
            if layer.activation_kind == "tanh":
                saturated = (a.abs() > 0.99).float().mean()
            elif layer.activation_kind == "sigmoid":
                saturated = ((a < 0.01) | (a > 0.99)).float().mean()
            else:
                saturated = torch.zeros((), device=a.device)
                # per unit (per channel for conv outputs): positive anywhere in this batch?
                positive = (a > 0).transpose(0, 1).reshape(a.shape[1], -1).any(dim=1)
                seen = self._ever_positive.get(layer.name)
                self._ever_positive[layer.name] = positive if seen is None else seen | positive
            self._moments[layer.name].append(torch.stack([a.mean(), a.std(), saturated]))
            self._samples[layer.name].append(subsample(a, self.sample_size))

        # it only reads: the fast MLP step calls it itself, so a watched step stays fast
        return observer(hook)

    def on_epoch_end(self, run: RunState) -> None:
        names = [layer.name for layer in self._layers if self._moments.get(layer.name)]
        if not names:
            return
        parts = [torch.stack(self._moments[name]).mean(0) for name in names]
        kinds = {layer.name: layer.activation_kind for layer in self._layers}
        dead = [
            1.0 - self._ever_positive[name].float().mean() if name in self._ever_positive
            else torch.zeros((), device=parts[0].device)
            for name in names
        ]
        values = torch.cat([torch.stack(parts), torch.stack(dead)[:, None]], dim=1).tolist()
        for name, (mean, std, saturated, dead_fraction) in zip(names, values, strict=True):
            row = layer_row(run, name)
            row["activation"] = kinds[name]
            row["act_mean"], row["act_std"] = mean, std
            if kinds[name] == "relu":
                row["dead_fraction"] = dead_fraction
            else:
                row["saturated_fraction"] = saturated
            row["act_hist"] = histogram(self._samples[name], self.bins)
