"""Array-like features to a float32 array, with one-sentence errors for what cannot be one."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import DataError


def as_float_array(X: Any, *, allow_nd: bool = True, name: str = "X") -> np.ndarray:
    """Check and convert array-like features to ``float32`` with one-sentence errors.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
    allow_nd : bool
        Accept image/signal arrays with more than two dimensions.

    Returns
    -------
    ndarray of dtype float32
    """
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise DataError(f"{name} is a sparse matrix; trainwell needs dense input: pass {name}.toarray().")
    arr = np.asarray(X) if not isinstance(X, np.ndarray) else X
    if arr.ndim == 1:
        raise DataError(
            f"{name} is 1-D with shape {arr.shape}; it must be 2-D (n_samples, n_features): "
            "use X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample."
        )
    if arr.ndim == 0:
        raise DataError(f"{name} is a scalar; pass a 2-D array of shape (n_samples, n_features).")
    if arr.dtype.kind in "OUS":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            if arr.dtype.kind in "US" or any(isinstance(v, str) for v in arr.ravel()[:1000]):
                raise DataError(
                    f"{name} contains text ({exc}); pass a pandas DataFrame so text columns are one-hot encoded, "
                    "or convert them to numbers."
                ) from None
            raise
    # imported here: `trainwell predict` runs without scikit-learn (trainwell.predictor)
    from sklearn.utils.validation import check_array

    try:
        arr = check_array(arr, dtype=np.float32, allow_nd=allow_nd, ensure_all_finite=False,
                          ensure_min_samples=1, ensure_min_features=1, input_name=name)
    except ValueError as exc:
        if "Complex data not supported" in str(exc):
            raise  # scikit-learn's own wording, which its estimator checks expect
        raise DataError(" ".join(str(exc).split())) from None
    return arr
