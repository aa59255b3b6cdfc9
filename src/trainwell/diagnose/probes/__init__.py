"""Monitors that watch a run: each probe measures one thing and writes it into the history.

Per-layer statistics go to ``history[epoch]["layers"][layer_name]`` (layer names
``conv1.., dense1.., output``, see :mod:`.layers`); run-level columns go to the history
row itself. Sampled probes attach hooks only on the few steps they ask for and keep their
numbers on the device until the end of the epoch.

========================  ==================  ===================================================
key                       probe               meaning
========================  ==================  ===================================================
act_mean, act_std         ActivationProbe     activations after the non-linearity
act_hist                  ActivationProbe     histogram {"edges", "counts"} of sampled activations
dead_fraction             ActivationProbe     ReLU units never positive over the sampled batches
saturated_fraction        ActivationProbe     tanh/sigmoid outputs in the flat tails
grad_norm, grad_rms       GradientProbe       weight-gradient norm (rms: per weight)
grad_hist                 GradientProbe       histogram of sampled gradient values
update_ratio              UpdateRatioProbe    ||w_after - w_before|| / ||w_before|| per step
weight_norm, weight_rms   WeightProbe         weight norm (rms: per weight)
row_spread                WeightProbe         0 when every unit has the same weights
loss_vs_first             TrendProbe          training loss / first epoch's training loss
generalization_gap        TrendProbe          validation loss - training loss
val_plateau_epochs        TrendProbe          epochs since the validation loss improved
targets_outside_output    TargetRangeProbe    targets a sigmoid/tanh output cannot produce
========================  ==================  ===================================================

Run-level records go to fields of the :class:`~trainwell.train.RunState`:
``run.initial_loss`` (TrendProbe), ``run.initial_grad_rms`` (GradientProbe),
``run.initial_weight_rms`` and ``run.first_layer_weights``, the first layer's initial and
final weights (WeightProbe); ``run.diverged`` is set when DivergenceGuard restored weights.
"""

from .activations import ActivationProbe
from .base import LAYERS_KEY, SampledProbe
from .gradients import GradientProbe
from .guard import DivergenceGuard
from .layers import Layer, find_layers
from .targets import TargetRangeProbe
from .trends import TrendProbe
from .updates import UpdateRatioProbe
from .weights import WeightProbe

__all__ = [
    "LAYERS_KEY",
    "ActivationProbe",
    "DivergenceGuard",
    "GradientProbe",
    "Layer",
    "SampledProbe",
    "TargetRangeProbe",
    "TrendProbe",
    "UpdateRatioProbe",
    "WeightProbe",
    "find_layers",
]
