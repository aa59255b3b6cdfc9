"""NaN and infinite values of features: where the first one is, how many there are, and the sentence
that says so.

The search runs over every row the user gave, before any split (the estimators in ``_split``,
the commands before holding out their test rows), so the row named is the one in the user's
array or file, and the count covers all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


def is_categorical(series: pd.Series) -> bool:
    """Whether a DataFrame column is one-hot encoded (text, categories, booleans) rather than scaled."""
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


#: Rows read at a time when an array is searched.
CHUNK = 16_384


@dataclass(frozen=True)
class NonFinite:
    """The NaN and infinite values of some features: how many of each, and the first one.

    ``row`` counts from 0 in the order the rows were given; ``where`` names the feature
    (``"column 'b'"``, ``"feature 1"`` or ``"position (3, 4)"`` of an image).
    """

    n_nan: int
    n_inf: int
    row: int
    where: str
    first_is_nan: bool


def _feature_name(index: int, sample_shape: tuple[int, ...], columns: list[str] | None) -> str:
    if columns is not None and len(sample_shape) == 1:
        return f"column {columns[index]!r}"
    if len(sample_shape) <= 1:
        return f"feature {index}"
    return f"position {tuple(int(i) for i in np.unravel_index(index, sample_shape))}"


def find_non_finite(X: Any, *, columns: list[str] | None = None, chunk: int | None = None,
                    nan: bool = True) -> NonFinite | None:
    """Count the NaN and infinite values of all of ``X`` and locate the first, or ``None``.

    Reads ``X`` in row chunks (a memory-mapped array is never loaded whole), so the row is
    the one the caller gave, whatever split or chunk comes later. A DataFrame is searched in
    its numeric columns only: a missing value in a text, category or boolean column is a
    category of its own (``"<missing>"``), not an error.

    Parameters
    ----------
    X : ndarray or DataFrame of shape (n_samples, ...)
    columns : list of str, optional
        Names of the columns of a 2-D array, for the message.
    chunk : int, optional
        Rows read at a time (default :data:`CHUNK`).
    nan : bool, default=True
        Look for NaN values too; ``False`` looks for infinite values only (where NaN is a
        missing value the estimator fills in, ``missing="auto"``).
    """
    chunk = chunk or CHUNK
    if isinstance(X, pd.DataFrame):
        return _non_finite_in_frame(X, nan)
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):  # a scipy.sparse matrix: only its stored values can be non-finite
        return _non_finite_in_sparse(X.tocsr(), columns)
    if isinstance(X, np.ndarray) and X.dtype.kind == "O":
        try:  # numbers held as objects (a mixed table's to_numpy()); text is refused where X is converted
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            return None
    if not isinstance(X, np.ndarray) or X.dtype.kind not in "fc" or X.ndim < 2:
        return None  # integers and booleans are always finite
    n_nan = n_inf = 0
    first: tuple[int, int, bool] | None = None
    for start in range(0, X.shape[0], chunk):
        part = np.asarray(X[start:start + chunk]).reshape(min(chunk, X.shape[0] - start), -1)
        bad = ~np.isfinite(part) if nan else np.isinf(part)
        if not bad.any():
            continue
        is_nan = np.isnan(part) if nan else np.zeros_like(bad)
        n_nan += int(is_nan.sum())
        n_inf += int(bad.sum()) - int(is_nan.sum())
        if first is None:
            row, col = np.argwhere(bad)[0]
            first = (start + int(row), int(col), bool(is_nan[row, col]))
    if first is None:
        return None
    return NonFinite(n_nan, n_inf, first[0], _feature_name(first[1], tuple(X.shape[1:]), columns), first[2])


def _non_finite_in_frame(X: pd.DataFrame, with_nan: bool = True) -> NonFinite | None:
    """:func:`find_non_finite` of a DataFrame's numeric columns, one column at a time (no copy of the table)."""
    n_nan = n_inf = 0
    first: tuple[int, int, str, bool] | None = None
    for position, (name, series) in enumerate(X.items()):
        if is_categorical(series):
            continue
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        nan = np.isnan(values) if with_nan else np.zeros(len(values), dtype=bool)
        bad = ~np.isfinite(values) if with_nan else np.isinf(values)
        if not bad.any():
            continue
        n_nan += int(nan.sum())
        n_inf += int(bad.sum()) - int(nan.sum())
        row = int(np.argmax(bad))
        if first is None or (row, position) < first[:2]:
            first = (row, position, f"column {str(name)!r}", bool(nan[row]))
    return None if first is None else NonFinite(n_nan, n_inf, first[0], first[2], first[3])


def _values(n: int, what: str) -> str:
    return f"{n} {what} value{'s' if n != 1 else ''}"


def non_finite_message(found: NonFinite, name: str = "X", row: str = "row {row}") -> str:
    """One sentence saying what ``found`` holds, where the first one is, and how to fix it.

    Parameters
    ----------
    found : NonFinite
    name : str
        What holds the values (``"X"``, a file name).
    row : str
        How to name the row, formatted with ``row`` (the 0-based row) and ``line`` (``row + 2``:
        the line of a CSV file with one header line), e.g. ``"row {row} of the data (line {line})"``.
    """
    counts = " and ".join(
        _values(n, what) for n, what in ((found.n_nan, "NaN"), (found.n_inf, "infinite")) if n
    )
    kind = "" if not (found.n_nan and found.n_inf) else ("a NaN " if found.first_is_nan else "an infinite value ")
    where = row.format(row=found.row, line=found.row + 2)
    one = found.n_nan + found.n_inf == 1
    if not found.n_inf:
        fix = (f"drop {'that row' if one else 'those rows'} or impute the {'value' if one else 'values'} "
               "(e.g. with sklearn.impute.SimpleImputer)")
    elif not found.n_nan:
        fix = f"replace {'it with a finite number' if one else 'them with finite numbers'} or drop {'that row' if one else 'those rows'}"
    else:
        fix = "drop or impute the NaN values (e.g. with sklearn.impute.SimpleImputer) and replace the infinite ones"
    return f"{name} holds {counts} (first {kind}at {where}, {found.where}); {fix}."


def _non_finite_in_sparse(X: Any, columns: list[str] | None) -> NonFinite | None:
    """:func:`find_non_finite` of a CSR matrix: its stored values, each located by its row and column."""
    if X.dtype.kind not in "fc":
        return None
    bad = ~np.isfinite(X.data)
    if not bad.any():
        return None
    nan = np.isnan(X.data)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    order = np.lexsort((X.indices[bad], rows[bad]))[0]  # the first in row order, then column order
    position = np.flatnonzero(bad)[order]
    return NonFinite(int(nan.sum()), int(bad.sum() - nan.sum()), int(rows[position]),
                     _feature_name(int(X.indices[position]), (X.shape[1],), columns), bool(nan[position]))
