"""Activation functions by name, as the notes teach them.

ReLU is the default; tanh is allowed; sigmoid works but is warned against in hidden
layers (it saturates and is not zero-centred); leaky ReLU takes a fixed slope (0.01 by
default) and PReLU learns it.
"""

from __future__ import annotations

from torch import nn

from ..exceptions import ConfigError

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "prelu")


def parse_activation(activation: str | tuple | list) -> tuple[str, float | None]:
    """Split an activation given as ``"name"`` or ``("leaky_relu", slope)`` into name and parameter.

    Parameters
    ----------
    activation : str or tuple
        ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"leaky_relu"``, ``"prelu"`` (in any case), or
        ``("leaky_relu", slope)`` / ``("prelu", initial_slope)``.

    Returns
    -------
    name : str
    param : float or None
    """
    param = None
    if isinstance(activation, (tuple, list)):
        if len(activation) != 2 or not isinstance(activation[0], str):
            raise ConfigError(
                f"activation={activation!r} is not understood; give a name such as 'relu' "
                "or a pair such as ('leaky_relu', 0.1)."
            )
        activation, param = activation[0], float(activation[1])
    if isinstance(activation, str):
        activation = activation.lower()  # names in any case: "ReLU" is relu
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ConfigError(
            f"Unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}."
        )
    if param is not None and activation not in ("leaky_relu", "prelu"):
        raise ConfigError(f"activation {activation!r} takes no parameter; drop the {param!r}.")
    if activation == "leaky_relu" and param is None:
        param = 0.01
    if activation == "prelu" and param is None:
        param = 0.25
    return activation, param


def make_activation(name: str, param: float | None, n_channels: int = 1) -> nn.Module:
    """Return a fresh activation module for ``name`` (see :func:`parse_activation`)."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "leaky_relu":
        return nn.LeakyReLU(param, inplace=True)
    return nn.PReLU(num_parameters=n_channels, init=param)
