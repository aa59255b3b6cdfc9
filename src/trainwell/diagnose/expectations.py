"""What an untrained network's loss should be (the notes' first sanity check).

A softmax classifier whose scores start near zero gives every class probability 1/C, so
its cross-entropy is ``ln C`` (2.302 for 10 classes); the multiclass SVM loss with all
scores equal is ``C - 1`` (every margin is 1); an L2 regressor whose output starts at the
activation's centre has loss ``mean((centre - y)^2)``, 1 for standardised targets.
"""

from __future__ import annotations

import math

import numpy as np

#: The measured initial loss is "near" the expected one inside this ratio band. Healthy
#: classifiers measure 0.95-1.10 of ln C (bench/scenarios.py, calibration runs, first step and
#: 4,096-row check alike): the band leaves a margin of about 4x their spread on each side.
INIT_LOSS_BAND = (2.0 / 3.0, 1.5)
#: The band for a squared loss measured on one batch (the first training step): a mean of
#: squared standardised targets over a batch of B rows varies by about sqrt((kurtosis - 1) / B)
#: of itself, so skewed targets (house prices, fuel use) put a healthy first batch anywhere from
#: about 0.4 to 1.5 of the whole-table value (calibration: 0.94-1.45). Only a gross
#: misinitialisation, outside 0.25-4, is judged from one batch; the check before training
#: measures 4,096 rows and keeps :data:`INIT_LOSS_BAND`.
INIT_LOSS_BAND_ONE_BATCH_MSE = (0.25, 4.0)

_OUTPUT_CENTRE = {None: 0.0, "sigmoid": 0.5, "tanh": 0.0}


def expected_initial_loss(loss_name: str, n_classes: int | None = None, y_scaled: np.ndarray | None = None,
                          output_activation: str | None = None) -> float | None:
    """The loss of an untrained network that has not yet preferred any answer.

    Parameters
    ----------
    loss_name : str
        ``cross_entropy``, ``hierarchical_softmax``, ``hinge``, ``squared_hinge`` or ``mse``.
    n_classes : int, optional
        Classes (classification).
    y_scaled : ndarray, optional
        Training targets as the network sees them (regression); without them the
        regression expectation is the one for standardised targets (1.0).
    output_activation : {None, "sigmoid", "tanh"}

    Returns
    -------
    float or None
        ``None`` when there is no expectation for this loss.
    """
    if loss_name in ("cross_entropy", "hierarchical_softmax"):
        return math.log(n_classes) if n_classes and n_classes > 1 else None
    if loss_name in ("hinge", "squared_hinge"):
        return float(n_classes - 1) if n_classes and n_classes > 1 else None
    if loss_name == "mse":
        if y_scaled is None:
            return 1.0
        centre = _OUTPUT_CENTRE.get(output_activation, 0.0)
        return float(np.mean((np.asarray(y_scaled, dtype=np.float64) - centre) ** 2))
    return None


def describe_expectation(loss_name: str, n_classes: int | None) -> str:
    """Where the expected value comes from, in words."""
    if loss_name in ("cross_entropy", "hierarchical_softmax"):
        return f"ln {n_classes} for {n_classes} equally likely classes"
    if loss_name in ("hinge", "squared_hinge"):
        return f"{n_classes} - 1 margins of 1 when all scores are equal"
    return "the loss of an output that starts at its centre"


def near_chance(score: float, chance: float) -> bool:
    """Whether an accuracy is not clearly better than chance (always answering the most common class):
    within a tenth of the way from ``chance`` to a perfect score."""
    return score <= chance + 0.1 * (1 - chance)


def init_loss_is_off(measured: float, expected: float, band: tuple[float, float] = INIT_LOSS_BAND) -> bool:
    """Whether a measured initial loss is outside ``band`` (ratios) around the expected one."""
    if not math.isfinite(measured):
        return True
    if expected <= 0:
        return measured > 1e-6
    lo, hi = band
    return not lo * expected <= measured <= hi * expected
