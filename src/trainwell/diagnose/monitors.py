"""The set of monitors a diagnosed run attaches (see :mod:`.probes` for what each records)."""

from __future__ import annotations

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


def default_monitors(*, per_epoch: int = 2) -> list[Callback]:
    """Fresh monitors for one fit.

    Parameters
    ----------
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
