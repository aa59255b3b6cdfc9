"""Build a PyTorch network from a :class:`~trainwell.nn.spec.NetworkSpec`.

Every hidden block is ``linear/conv -> batch norm -> activation -> dropout``: batch norm
after the affine layer and before the non-linearity, as the notes prescribe (per channel
for a conv layer). The affine layer has no bias when batch norm follows it (batch norm's
shift does that job).
"""

from __future__ import annotations

import torch
from torch import nn

from ..exceptions import ConfigError
from .activations import make_activation
from .dropout import Dropout
from .init import initialise
from .losses import HierarchicalSoftmaxHead
from .spec import NetworkSpec


class Network(nn.Module):
    """A feed-forward network: ``features`` (every hidden block) then ``head``.

    Parameters
    ----------
    features : nn.Sequential
        Hidden blocks; maps inputs to the last hidden representation.
    head : nn.Module
        Output layer (linear, or a hierarchical softmax head).
    output_activation : nn.Module or None
        Optional squashing of regression outputs.
    """

    def __init__(self, features: nn.Sequential, head: nn.Module, output_activation: nn.Module | None = None) -> None:
        super().__init__()
        self.features = features
        self.head = head
        self.output_activation = output_activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.features(x))
        if self.output_activation is not None:
            out = self.output_activation(out)
        return out


def validate_spec(spec: NetworkSpec) -> None:
    """Fail with one sentence when the spec cannot describe a network."""
    if spec.kind not in ("mlp", "cnn"):
        raise ConfigError(f"Unknown kind {spec.kind!r}; choose 'mlp' or 'cnn'.")
    for size in spec.hidden:
        if not isinstance(size, int) or size < 1:
            raise ConfigError(f"hidden={spec.hidden!r} has a layer of size {size!r}; every hidden layer needs at least 1 unit.")
    if not 0.0 <= spec.dropout < 1.0:
        raise ConfigError(f"dropout={spec.dropout!r} must be in [0, 1); it is the probability of dropping a unit.")
    if spec.n_outputs < 1:
        raise ConfigError("The network needs at least one output.")
    if spec.kind == "cnn":
        if len(spec.input_shape) not in (2, 3):
            raise ConfigError(
                f"A CNN needs inputs shaped (n, channels, length) or (n, channels, height, width); got sample shape {spec.input_shape}."
            )
        for block in spec.conv:
            if block.channels < 1 or block.kernel < 1 or block.pool < 0:
                raise ConfigError(f"Conv block {block} needs channels >= 1, kernel >= 1 and pool >= 0.")
    if spec.output_activation not in (None, "sigmoid", "tanh"):
        raise ConfigError(f"Unknown output_activation {spec.output_activation!r}; choose None, 'sigmoid' or 'tanh'.")


def _hidden_block(layer: nn.Module, width: int, spec: NetworkSpec, norm: type[nn.Module] | None) -> list[nn.Module]:
    block: list[nn.Module] = [layer]
    if spec.batchnorm and norm is not None:
        block.append(norm(width))
    block.append(make_activation(spec.activation, spec.activation_param, width if spec.activation == "prelu" else 1))
    if spec.dropout > 0:
        block.append(Dropout(spec.dropout))
    return block


def build_network(spec: NetworkSpec, generator: torch.Generator | None = None) -> Network:
    """Build and initialise the network a spec describes.

    Parameters
    ----------
    spec : NetworkSpec
    generator : torch.Generator, optional
        Source of randomness for the initial weights (repeatable runs).

    Returns
    -------
    Network
    """
    validate_spec(spec)
    layers: list[nn.Module] = []
    bias = not spec.batchnorm
    if spec.kind == "cnn":
        two_d = len(spec.input_shape) == 3
        conv_cls = nn.Conv2d if two_d else nn.Conv1d
        norm_cls = nn.BatchNorm2d if two_d else nn.BatchNorm1d
        pool_cls = nn.MaxPool2d if two_d else nn.MaxPool1d
        gap_cls = nn.AdaptiveAvgPool2d if two_d else nn.AdaptiveAvgPool1d
        channels = spec.input_shape[0]
        for block in spec.conv:
            conv = conv_cls(channels, block.channels, block.kernel, padding=block.kernel // 2, bias=bias)
            layers += _hidden_block(conv, block.channels, spec, norm_cls)
            if block.pool > 1:
                layers.append(pool_cls(block.pool))
            channels = block.channels
        layers += [gap_cls(1), nn.Flatten()]
        width = channels
    else:
        width = spec.input_shape[0]
    for size in spec.hidden:
        layers += _hidden_block(nn.Linear(width, size, bias=bias), size, spec, nn.BatchNorm1d)
        width = size
    if spec.head == "hierarchical_softmax":
        head: nn.Module = HierarchicalSoftmaxHead(width, spec.n_outputs)
    elif spec.head == "linear":
        head = nn.Linear(width, spec.n_outputs)
    else:
        raise ConfigError(f"Unknown head {spec.head!r}; choose 'linear' or 'hierarchical_softmax'.")
    out_act = {"sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), None: None}[spec.output_activation]
    net = Network(nn.Sequential(*layers), head, out_act)
    for module in net.features:
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            initialise(module, spec.init, spec.init_param, spec.activation_param, generator)
    if isinstance(head, nn.Linear):
        initialise(head, spec.init, spec.init_param, spec.activation_param, generator, output_layer=True)
    elif spec.init in ("zeros", "constant", "normal"):
        initialise(head.cluster, spec.init, spec.init_param, spec.activation_param, generator)
    return net
