"""Weight initialisation schemes, chosen from the activation when ``init="auto"``.

He (``std = sqrt(2 / fan_in)``) for the ReLU family, Xavier for tanh and sigmoid.
The notes write Xavier as ``randn(n) / sqrt(1.0 / n)``, which *multiplies* by
``sqrt(n)``; the intended (and implemented) form is ``randn(n) * sqrt(1 / n)``,
i.e. divide by ``sqrt(n)``. ``zeros`` and ``constant`` exist to show the symmetry
problem and are warned about: every unit of a layer then computes the same thing and
receives the same update, so the network cannot learn.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from ..exceptions import ConfigError

INITS = ("auto", "he", "xavier", "zeros", "constant", "normal")


class SymmetricInitWarning(UserWarning):
    """The chosen initialisation makes every unit of a layer identical."""


def parse_init(init: str | tuple | list, activation: str) -> tuple[str, float | None]:
    """Resolve ``init`` to a concrete scheme name and its parameter.

    Parameters
    ----------
    init : str or tuple
        One of ``"auto"``, ``"he"``, ``"xavier"``, ``"zeros"``, ``("constant", value)``,
        ``("normal", std)``; names in any case.
    activation : str
        The hidden activation; ``"auto"`` picks He for the ReLU family, Xavier otherwise.
    """
    param = None
    if isinstance(init, (tuple, list)):
        if len(init) != 2 or not isinstance(init[0], str):
            raise ConfigError(
                f"init={init!r} is not understood; give a name such as 'he' or a pair such as ('normal', 0.01)."
            )
        init, param = init[0], float(init[1])
    if isinstance(init, str):
        init = init.lower()  # names in any case: "He" is he
    if not isinstance(init, str) or init not in INITS:
        raise ConfigError(f"Unknown init {init!r}; choose one of {', '.join(INITS)}.")
    if init == "auto":
        init = "he" if activation in ("relu", "leaky_relu", "prelu") else "xavier"
    if init == "constant" and param is None:
        param = 0.1
    if init == "normal" and param is None:
        raise ConfigError("init 'normal' needs a standard deviation, e.g. init=('normal', 0.01).")
    return init, param


def initialise(module: nn.Module, scheme: str, param: float | None, activation_param: float | None,
               generator: torch.Generator | None = None, output_layer: bool = False) -> None:
    """Initialise the weight (and zero the bias) of one linear or conv layer in place.

    The output layer of a network drawn with He/Xavier gets a tenth of the Xavier
    scale, so the untrained network's scores are small and a softmax classifier's
    first loss is close to ``ln(C)`` (the notes' first sanity check).
    """
    weight = module.weight
    fan_in = weight[0].numel()
    with torch.no_grad():
        if scheme in ("zeros", "constant"):
            weight.fill_(0.0 if scheme == "zeros" else param)
        elif scheme == "normal":
            weight.normal_(0.0, param, generator=generator)
        else:
            if output_layer:
                std = 0.1 / math.sqrt(fan_in)
            elif scheme == "he":
                slope = activation_param or 0.0
                std = math.sqrt(2.0 / ((1.0 + slope**2) * fan_in))
            else:  # xavier, the notes' formula corrected
                std = math.sqrt(1.0 / fan_in)
            weight.normal_(0.0, std, generator=generator)
        if getattr(module, "bias", None) is not None:
            module.bias.zero_()


def warn_if_symmetric(scheme: str) -> None:
    """Warn that a constant initialisation leaves every unit of a layer identical."""
    if scheme in ("zeros", "constant"):
        warnings.warn(
            f"init={scheme!r} gives every unit of a layer the same weights, so they compute the "
            "same output, get the same gradient and stay identical: the network cannot learn. "
            "Use init='auto' (He for ReLU, Xavier for tanh).",
            SymmetricInitWarning,
            stacklevel=3,
        )
