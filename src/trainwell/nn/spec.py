"""The plain, JSON-serialisable description of a network.

A spec is everything needed to rebuild the same architecture: saved in ``model.json``
next to the weights, so loading a model never needs pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..exceptions import ConfigError


@dataclass(frozen=True)
class ConvBlock:
    """One convolutional block: conv (``kernel``, same padding) -> [batch norm] -> activation -> [max pool]."""

    channels: int
    kernel: int = 3
    pool: int = 2


@dataclass(frozen=True)
class NetworkSpec:
    """Architecture of an MLP or a CNN.

    Attributes
    ----------
    kind : {"mlp", "cnn"}
    input_shape : tuple of int
        ``(n_features,)`` for an MLP; ``(channels, height, width)`` or ``(channels, length)``
        for a CNN.
    n_outputs : int
        Classes (classification) or targets (regression).
    hidden : tuple of int
        Sizes of the dense hidden layers (after the conv blocks for a CNN).
    conv : tuple of ConvBlock
        Convolutional blocks (CNN only); followed by global average pooling.
    activation, activation_param : str, float or None
    init, init_param : str, float or None
    batchnorm : bool
        Batch norm after each linear/conv layer and before the non-linearity.
    dropout : float
        Dropout probability after each hidden activation.
    head : {"linear", "hierarchical_softmax"}
    output_activation : {None, "sigmoid", "tanh"}
        Squashing on a regression output.
    """

    kind: str
    input_shape: tuple[int, ...]
    n_outputs: int
    hidden: tuple[int, ...] = (256, 128)
    conv: tuple[ConvBlock, ...] = field(default_factory=tuple)
    activation: str = "relu"
    activation_param: float | None = None
    init: str = "he"
    init_param: float | None = None
    batchnorm: bool = True
    dropout: float = 0.0
    head: str = "linear"
    output_activation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form for ``model.json``."""
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["hidden"] = list(self.hidden)
        d["conv"] = [asdict(b) for b in self.conv]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkSpec:
        """Rebuild a spec from :meth:`to_dict` output; unknown or missing keys fail clearly."""
        if not isinstance(d, dict):
            raise ConfigError("The network spec must be a JSON object; the model file is damaged.")
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"The network spec has unknown keys {sorted(unknown)}; it was written by another version.")
        try:
            d = dict(d)
            d["input_shape"] = tuple(int(v) for v in d["input_shape"])
            d["hidden"] = tuple(int(v) for v in d.get("hidden", ()))
            d["conv"] = tuple(ConvBlock(**b) for b in d.get("conv", ()))
            return cls(**d)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"The network spec is incomplete or malformed ({exc}); the model file is damaged.") from None
