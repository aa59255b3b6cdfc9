"""The set of monitors a diagnosed run attaches (see :mod:`.probes` for what each records)."""

from __future__ import annotations

from typing import Any

from ..train.callbacks import Callback
from .probes import (
    ActivationProbe,
    DivergenceGuard,
    GradientProbe,
    TargetRangeProbe,
    TrendProbe,
    UpdateRatioProbe,
    WeightProbe,
)


def default_monitors(estimator: Any = None, per_epoch: int = 2) -> list[Callback]:
    """Fresh monitors for one fit.

    Parameters
    ----------
    estimator : NeuralNetClassifier or NeuralNetRegressor, optional
        The estimator being fitted (unused today; the seam for monitors that depend on it).
    per_epoch : int, default=2
        Steps per epoch the sampling probes watch.

    Returns
    -------
    list of Callback
        Divergence guard, activation, gradient, update-ratio, weight, trend and
        target-range probes.
    """
    return [
        DivergenceGuard(),
        ActivationProbe(per_epoch),
        GradientProbe(per_epoch),
        UpdateRatioProbe(per_epoch),
        WeightProbe(),
        TrendProbe(),
        TargetRangeProbe(),
    ]
