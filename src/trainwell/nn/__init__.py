"""Networks from a plain spec: layers, activations, initialisation and losses."""

from .activations import ACTIVATIONS, parse_activation
from .build import Network, build_network
from .dropout import Dropout
from .init import INITS, SymmetricInitWarning, parse_init
from .losses import CLASSIFICATION_LOSSES, LOSSES, REGRESSION_LOSSES, Loss, make_loss
from .spec import ConvBlock, NetworkSpec

__all__ = [
    "ACTIVATIONS",
    "CLASSIFICATION_LOSSES",
    "INITS",
    "LOSSES",
    "REGRESSION_LOSSES",
    "ConvBlock",
    "Dropout",
    "Loss",
    "Network",
    "NetworkSpec",
    "SymmetricInitWarning",
    "build_network",
    "make_loss",
    "parse_activation",
    "parse_init",
]
