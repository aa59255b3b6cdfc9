"""Put a DataFrame's columns in the order seen in training, refusing missing or unknown ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..exceptions import DataError

__all__ = ["align_columns"]


def align_columns(X: pd.DataFrame, names: Sequence[Any]) -> pd.DataFrame:
    """``X`` with exactly the training columns ``names``, in their order.

    Parameters
    ----------
    X : DataFrame
        Rows to predict; its column names are compared as strings.
    names : sequence
        The columns seen in ``fit`` (``feature_names_in_``).

    Raises
    ------
    DataError
        When ``X`` lacks a training column or has one the model never saw.
    """
    columns = {str(c) for c in X.columns}
    missing = [str(c) for c in names if str(c) not in columns]
    if missing:
        raise DataError(f"X lacks the column(s) {missing[:5]} seen in fit; pass the same columns as in training.")
    known = {str(n) for n in names}
    extra = [str(c) for c in X.columns if str(c) not in known]
    if extra:
        raise DataError(f"X has column(s) {extra[:5]} that were not seen in fit; drop them before predicting.")
    return X[list(names)]
