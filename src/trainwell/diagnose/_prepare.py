"""Build an estimator's untrained network and prepared data, exactly as ``fit`` would.

The estimators have no public "prepare but do not train" method yet, so this runs their
own ``_fit`` for zero epochs on a clone: the same validation, feature transform, target
scaling, network spec, initialisation and loss as a real fit, and nothing trained.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone


@dataclass
class Prepared:
    """An untrained clone of an estimator and a sample of its prepared training data.

    Attributes
    ----------
    estimator : the clone, with ``network_``, ``transform_``, ``_loss``, ``_config`` set
    X, y : tensors on the estimator's device
        Up to ``max_rows`` prepared rows (features scaled, labels encoded, targets scaled).
    n_train : int
        Rows the clone was prepared on.
    """

    estimator: Any
    X: torch.Tensor
    y: torch.Tensor
    n_train: int


def rows(X: Any, index: np.ndarray) -> Any:
    """Select rows of an array, a DataFrame or a scipy.sparse matrix (which stays sparse)."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[index]
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):
        return X.tocsr()[index]
    return np.asarray(X)[index]


#: Estimator settings that make a throwaway clone slower or write files; turned off when present.
_QUIET = {"callbacks": None, "verbose": 0, "diagnostics": False, "report": None, "tensorboard": False,
          "mlflow": False, "checkpoint_dir": None}


def quiet_clone(estimator: Any, **params: Any) -> Any:
    """A clone of ``estimator`` for a check: no callbacks, output, reports or diagnostics of its own."""
    est = clone(estimator)
    known = est.get_params(deep=False)
    est.set_params(**{**{k: v for k, v in _QUIET.items() if k in known}, **params})
    return est


def prepare(estimator: Any, X: Any, y: Any, *, max_rows: int = 4096, seed: int = 0, **params: Any) -> Prepared:
    """Return an untrained clone of ``estimator`` built on ``(X, y)``, with ``params`` set.

    Parameters
    ----------
    estimator : NeuralNetClassifier or NeuralNetRegressor
    X, y : training data as ``fit`` takes it
    max_rows : int
        Prepared rows kept for measuring the untrained network.
    seed : int
        Chooses the kept rows.
    **params
        Parameters to override on the clone (e.g. ``dropout=0.0``).
    """
    est = quiet_clone(estimator, **params)
    with warnings.catch_warnings():
        # what the warnings say (constant init, targets out of range), check() reports itself
        warnings.simplefilter("ignore")
        est.prepare(X, y)
    n = len(y)
    keep = np.sort(np.random.default_rng(seed).permutation(n)[:max_rows])
    Xs = rows(X, keep)
    ys = y.iloc[keep] if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)[keep]
    Xt, yt = est.to_tensors(Xs, ys)
    return Prepared(est, Xt, yt, n)
