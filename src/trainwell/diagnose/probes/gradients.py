"""Gradient statistics per layer on sampled steps: the notes' "gradient distributions".

Recorded under ``row["layers"][name]`` for every weight layer (the output layer included):

``grad_norm``
    L2 norm of the layer's weight gradient as the optimizer received it: the data gradient
    (plus L1's subgradient, after clipping when ``grad_clip`` is set); L2 weight decay is
    applied inside the optimizer and is not part of it.
``grad_rms``
    The same divided by ``sqrt(number of weights)``: comparable between layers of
    different sizes, which is what vanishing/exploding-gradient rules compare.
``grad_hist``
    Histogram ``{"edges", "counts"}`` of a strided sample of the gradient values.

And ``run.initial_grad_rms``: each layer's ``grad_rms`` at the first step of
training, i.e. of the untrained network (gradients already huge there point at the
initialisation, not at the learning rate).
"""

from __future__ import annotations

import math

import torch

from ...train.callbacks import RunState
from .base import LayerHistogramProbe, histogram, layer_row, subsample
from .layers import find_layers


class GradientProbe(LayerHistogramProbe):
    """Read each layer's weight gradients right after sampled steps.

    Parameters: see :class:`~.base.LayerHistogramProbe` (gradient values are sampled).
    """

    def on_fit_begin(self, run: RunState) -> None:
        self._layers = find_layers(run.net)
        self._initial: dict[str, torch.Tensor] | None = None
        self._want_initial = run.initial_grad_rms is None

    def reset(self, run: RunState) -> None:
        self._norms: dict[str, list[torch.Tensor]] = {layer.name: [] for layer in self._layers}
        self._samples: dict[str, list[torch.Tensor]] = {layer.name: [] for layer in self._layers}

    def on_step_end(self, run: RunState) -> None:
        initial: dict[str, torch.Tensor] | None = {} if self._want_initial else None
        for layer in self._layers:
            grads = [w.grad for w in layer.weights if w.grad is not None]
            if not grads:
                continue
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
            self._norms[layer.name].append(norm)
            self._samples[layer.name].append(torch.cat([subsample(g, self.sample_size) for g in grads]))
            if initial is not None:
                initial[layer.name] = norm
        if initial is not None:  # the first watched step of the fit: the untrained network's gradients
            self._initial, self._want_initial = initial, False

    def on_epoch_end(self, run: RunState) -> None:
        sizes = {layer.name: sum(w.numel() for w in layer.weights) for layer in self._layers}
        if self._initial:
            norms = torch.stack(list(self._initial.values())).tolist()
            run.initial_grad_rms = {
                name: norm / math.sqrt(sizes[name]) for name, norm in zip(self._initial, norms, strict=True)
            }
            self._initial = None
        names = [layer.name for layer in self._layers if self._norms.get(layer.name)]
        if not names:
            return
        norms = torch.stack([torch.stack(self._norms[name]).mean() for name in names]).tolist()
        for name, norm in zip(names, norms, strict=True):
            row = layer_row(run, name)
            row["grad_norm"] = norm
            row["grad_rms"] = norm / math.sqrt(sizes[name])
            row["grad_hist"] = histogram(self._samples[name], self.bins)
