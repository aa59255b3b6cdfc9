"""The numbers the advice rules judge, for one finished run, in one flat dict.

Each advice rule (:mod:`.advice`) compares a statistic of the run with a threshold. This
module computes those statistics the way the rules read them, so a benchmark can record
their distribution over healthy runs and set the thresholds from measurements
(``bench/scenarios.py``, ``docs/diagnosis-thresholds.md``). A statistic the run lacks
(no validation split, no probes, no hidden layer) is ``None``.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from .advice import (
    RunView,
    _gap,
    _gap_allowance,
    _hidden_update_ratio,
    _train_score,
    _weight_shrink,
)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b and math.isfinite(a) and math.isfinite(b) else None


def _exploding(v: RunView) -> tuple[float | None, float | None]:
    """Largest hidden-layer gradient rms over weight rms, at the first step and over the run."""
    grads, weights = v.initial_grad_rms, v.initial_weight_rms
    at_start = [grads[n] / weights[n] for n in v.hidden
                if n in grads and weights.get(n, 0) > 0 and math.isfinite(grads[n])]
    during = []
    for name in v.hidden:
        for row in v.history:
            stats = row.get("layers", {}).get(name, {})
            g, w = stats.get("grad_rms"), stats.get("weight_rms")
            if g is None or w is None or not math.isfinite(g):
                continue
            scale = max(w if math.isfinite(w) else 0.0, weights.get(name, 0.0))
            if scale > 0:
                during.append(g / scale)
    return (max(at_start) if at_start else None), (max(during) if during else None)


def _vanishing(v: RunView) -> float | None:
    """Median over epochs of the first hidden layer's gradient rms over the output layer's."""
    if not v.hidden or "output" not in v.layers:
        return None
    ratios = []
    for row in v.history:
        stats = row.get("layers", {})
        g1, g_out = stats.get(v.hidden[0], {}).get("grad_rms"), stats.get("output", {}).get("grad_rms")
        if g1 is not None and g_out and math.isfinite(g1) and math.isfinite(g_out):
            ratios.append(g1 / g_out)
    return statistics.median(ratios) if ratios else None


def _val_rise(v: RunView) -> tuple[float | None, float | None]:
    """Best validation epoch as a fraction of the epochs run, and the later maximum over the best loss."""
    pairs = [(i, x) for i, x in enumerate(v.column("val_loss")) if isinstance(x, float) and math.isfinite(x)]
    if not pairs:
        return None, None
    best, best_val = min(pairs, key=lambda t: t[1])
    later = [x for i, x in pairs if i > best]
    return (best + 1) / len(v.history), (max(later) / best_val if later and best_val > 0 else None)


def rule_statistics(estimator: Any, run: Any) -> dict[str, float | None]:
    """The statistics the advice rules compare with their thresholds, for one run.

    Parameters
    ----------
    estimator : fitted NeuralNetClassifier or NeuralNetRegressor
    run : trainwell.train.RunState
        The run (``estimator.run_``), trained with the default monitors.

    Returns
    -------
    dict of str to float or None
        ``init_loss_ratio`` (first step's loss / expected), ``loss_peak_ratio`` (largest
        epoch loss / first step's), ``weight_growth`` / ``weight_shrink`` (largest factor a
        layer's weight rms grew or shrank by), ``update_ratio_typical`` (median over epochs of
        the largest hidden-layer update ratio), ``update_ratio_first_epoch``,
        ``dead_fraction`` (last epoch, largest layer), ``saturated_fraction`` (median over
        epochs, largest layer), ``grad_to_weight_start`` / ``grad_to_weight``,
        ``first_to_output_grad``, ``row_spread_min``, ``loss_vs_first_last``, ``train_score``,
        ``gap`` and ``gap_allowance`` (train minus validation score at the best epoch, and what
        chance allows), ``best_epoch_position`` and ``val_loss_rise``.
    """
    v = RunView(estimator, run)
    losses = [x for x in v.column("train_loss") if isinstance(x, (int, float)) and math.isfinite(x)]
    expected = v.expected_initial_loss()
    initial = v.initial_loss
    growth = [max(s) / w for n, w in v.initial_weight_rms.items() if w > 0 and (s := v.stat(n, "weight_rms"))]
    first = [s[0] for n in v.hidden if (s := v.stat(n, "update_ratio"))]
    dead = [s[-1] for n in v.hidden if (s := v.stat(n, "dead_fraction"))]
    saturated = [statistics.median(s) for n in v.hidden if (s := v.stat(n, "saturated_fraction"))]
    spread = [min(s) for n in v.layers if (s := v.stat(n, "row_spread"))]
    start, during = _exploding(v)
    position, rise = _val_rise(v)
    shrink = _weight_shrink(v)
    progress = [x for x in v.column("loss_vs_first") if isinstance(x, (int, float)) and math.isfinite(x)]
    return {
        "init_loss_ratio": _ratio(initial, expected),
        "loss_peak_ratio": _ratio(max(losses), initial) if losses else None,
        "weight_growth": max(growth) if growth else None,
        "weight_shrink": shrink[1] if shrink else None,
        "update_ratio_typical": _hidden_update_ratio(v),
        "update_ratio_first_epoch": max(first) if first else None,
        "dead_fraction": max(dead) if dead else None,
        "saturated_fraction": max(saturated) if saturated else None,
        "grad_to_weight_start": start,
        "grad_to_weight": during,
        "first_to_output_grad": _vanishing(v),
        "row_spread_min": min(spread) if spread else None,
        "loss_vs_first_last": progress[-1] if progress else None,
        "train_score": _train_score(v),
        "gap": _gap(v),
        "gap_allowance": _gap_allowance(v),
        "best_epoch_position": position,
        "val_loss_rise": rise,
    }
