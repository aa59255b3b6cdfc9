"""Loading a model folder back into a fitted estimator (the format itself is :mod:`trainwell.persist`)."""

from __future__ import annotations

import os
from typing import Any

from ..persist import read_model
from .base import ESTIMATORS, restore
from .classifier import NeuralNetClassifier
from .regressor import NeuralNetRegressor

# the classes a saved model may name register themselves with ESTIMATORS when defined
__all__ = ["NeuralNetClassifier", "NeuralNetRegressor", "load"]


def load(path: str | os.PathLike, device: str = "auto") -> Any:
    """Load a model folder written by ``save`` or ``trainwell fit``.

    Never unpickles: the weights are read by safetensors and everything else is JSON.

    Parameters
    ----------
    path : str or path-like
        The model folder (a run folder from ``trainwell fit`` also works: its ``model``
        subfolder is used).
    device : str, default="auto"

    Returns
    -------
    NeuralNetClassifier or NeuralNetRegressor
        Fitted and ready to predict.

    Raises
    ------
    ModelFileError
        When a file is missing, damaged, from another format version, or disagrees with
        another.
    """
    return restore(read_model(path, ESTIMATORS), device)
