"""Rebuilding a fitted estimator from a model folder (the format itself is :mod:`trainwell.persist`)."""

from __future__ import annotations

import os
from typing import Any

from ..nn import make_loss
from ..persist import SavedModel, read_model
from .base import NeuralNetBase
from .building import resolve_device
from .classifier import NeuralNetClassifier
from .regressor import NeuralNetRegressor

ESTIMATORS: dict[str, type[NeuralNetBase]] = {cls.__name__: cls for cls in (NeuralNetClassifier, NeuralNetRegressor)}


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
    saved = read_model(path, ESTIMATORS)
    return restore(saved, device)


def restore(saved: SavedModel, device: str = "auto") -> NeuralNetBase:
    """A fitted estimator from a :class:`~trainwell.persist.SavedModel` read off disk."""
    cls = ESTIMATORS[saved.estimator]
    known = cls().get_params()
    est = cls(**{k: v for k, v in saved.params.items() if k in known})
    est.device = device
    for name, value in saved.fitted.items():  # spec_, transform_, classes_, target_scaler_, ...
        setattr(est, name, value)
    est.device_ = resolve_device(device)
    est.network_ = saved.network.to(est.device_).eval()
    est.loss_ = make_loss(saved.loss).to(est.device_)
    est.train_config_ = est.training_config(int(saved.fitted["n_train_"]))
    est.run_ = None
    est.findings_ = []
    return est
