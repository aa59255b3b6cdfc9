"""Find the layers a probe watches: each weight layer, its parameters and its activation.

A trainwell network is ``features`` (blocks ``linear/conv -> [batch norm] -> activation ->
[dropout]``, plus pooling) followed by ``head``. Probes report per layer under stable,
readable names: ``conv1, conv2, ...`` for convolutions, ``dense1, dense2, ...`` for hidden
linear layers and ``output`` for the head.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

# The activation modules trainwell builds, by the family name advice rules reason about.
_ACTIVATION_KINDS: dict[type[nn.Module], str] = {
    nn.ReLU: "relu",
    nn.LeakyReLU: "relu",  # dies the same way: output > 0 exactly when input > 0
    nn.PReLU: "relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
}


@dataclass(frozen=True)
class Layer:
    """One weight layer of a network as the probes see it.

    Attributes
    ----------
    name : str
        ``conv1``, ``dense1``, ..., ``output``.
    module : nn.Module
        The linear/conv layer (the head for ``output``).
    weights : tuple of nn.Parameter
        Its weight tensors (matrices or kernels; biases are left out).
    activation : nn.Module or None
        The non-linearity that follows it (``None`` for the output layer).
    activation_kind : {"relu", "tanh", "sigmoid"} or None
    """

    name: str
    module: nn.Module
    weights: tuple[nn.Parameter, ...]
    activation: nn.Module | None
    activation_kind: str | None


def activation_kind(module: nn.Module) -> str | None:
    """``"relu"`` (ReLU family), ``"tanh"``, ``"sigmoid"`` or ``None`` for other modules."""
    for cls, kind in _ACTIVATION_KINDS.items():
        if isinstance(module, cls):
            return kind
    return None


def find_layers(net: nn.Module) -> list[Layer]:
    """The weight layers of ``net`` in forward order, each with the activation after it.

    Works on trainwell networks (``features`` + ``head``); for any other module every
    linear/conv layer is listed, paired with the next activation module found.
    """
    modules = list(net.features) if hasattr(net, "features") else [m for m in net.modules() if m is not net]
    layers: list[Layer] = []
    pending: tuple[str, nn.Module] | None = None
    counts = {"conv": 0, "dense": 0}

    def close(act: nn.Module | None) -> None:
        nonlocal pending
        if pending is not None:
            name, mod = pending
            kind = activation_kind(act) if act is not None else None
            layers.append(Layer(name, mod, (mod.weight,), act, kind))
            pending = None

    for module in modules:
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            close(None)
            family = "dense" if isinstance(module, nn.Linear) else "conv"
            counts[family] += 1
            pending = (f"{family}{counts[family]}", module)
        elif activation_kind(module) is not None and pending is not None:
            close(module)
    close(None)
    head = getattr(net, "head", None)
    if head is not None:
        weights = tuple(p for name, p in head.named_parameters() if name.endswith("weight") and p.ndim >= 2)
        if weights:
            layers.append(Layer("output", head, weights, None, None))
    return layers
