"""The scikit-learn face of trainwell: ``NeuralNetClassifier`` and ``NeuralNetRegressor``.

Parameters are only stored in ``__init__`` and validated in ``fit``; everything learned
ends in ``_``. Defaults are the notes' TL;DR: ReLU, He initialisation, batch norm after
each linear/conv layer and before the non-linearity, Adam, L2, softmax + cross-entropy
(classification) or L2 loss (regression), plus early stopping on a validation split.

Where things are: :mod:`.params` (what each parameter may be, what ``"auto"`` means),
:mod:`.building` (the network spec and loop configuration a fit builds), :mod:`.callbacks`
(which observers a fit runs with), :mod:`.base` (fit, predict, save), :mod:`.classifier`,
:mod:`.regressor`, :mod:`.loading` (a model folder back into an estimator).
"""

from .base import NeuralNetBase
from .building import resolve_device
from .classifier import NeuralNetClassifier
from .loading import load
from .params import (
    DEFAULT_CONV,
    SMALL_DATA,
    auto_batch_size,
    auto_dropout,
    auto_hidden,
    auto_validation_fraction,
)
from .regressor import NeuralNetRegressor, TargetRangeWarning

__all__ = [
    "DEFAULT_CONV",
    "SMALL_DATA",
    "NeuralNetBase",
    "NeuralNetClassifier",
    "NeuralNetRegressor",
    "TargetRangeWarning",
    "auto_batch_size",
    "auto_dropout",
    "auto_hidden",
    "auto_validation_fraction",
    "load",
    "resolve_device",
]
