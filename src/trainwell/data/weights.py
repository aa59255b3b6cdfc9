"""Sample weights: checked once, with one-sentence errors, and summarised for the run's record.

A weight says how many times a row counts: the training loss, the validation loss and
metrics and the scaling statistics are weighted means (see :mod:`trainwell.nn.losses`), so
an integer weight is the same as repeating the row in a full batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import DataError


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """``sample_weight`` as a new float64 array of ``n_samples`` weights, or ``None`` when not given.

    The caller's array is never written to (scikit-learn's contract).

    Raises
    ------
    DataError
        When the weights are not one finite, non-negative number per row, or are all zero.
    """
    if sample_weight is None:
        return None
    if np.isscalar(sample_weight):
        raise DataError(f"sample_weight is the single number {sample_weight!r}; pass one weight per row "
                        f"(an array of {n_samples} numbers).")
    try:
        w = np.array(sample_weight, dtype=np.float64)  # a copy: the caller's weights stay as they are
    except (TypeError, ValueError):
        raise DataError("sample_weight holds values that are not numbers; pass one number per row.") from None
    if w.ndim != 1:
        raise DataError(f"sample_weight has shape {w.shape}; it must be 1-D with one weight per row ({n_samples},).")
    if len(w) != n_samples:
        raise DataError(f"sample_weight has {len(w)} weights but X has {n_samples} rows; pass one weight per row.")
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise DataError(f"sample_weight is {w[bad[0]]} at row {bad[0]}; every weight must be a finite number.")
    negative = np.flatnonzero(w < 0)
    if negative.size:
        raise DataError(f"sample_weight is negative ({w[negative[0]]:g}) at row {negative[0]}; weights must be 0 or more.")
    if not (w > 0).any():
        raise DataError("sample_weight is zero for every row; give at least one row a positive weight.")
    return w


def describe_weights(w: np.ndarray | None) -> dict[str, Any] | None:
    """What a run records about its training rows' weights (``None``: no weights were given)."""
    if w is None:
        return None
    return {"used": True, "n": int(len(w)), "sum": float(w.sum()), "min": float(w.min()), "max": float(w.max()),
            "zero": int((w == 0).sum())}
