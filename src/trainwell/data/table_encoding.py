"""A table's columns as numbers, fast: plain numeric columns in one conversion, categories as codes.

What :class:`~trainwell.data.features.FeatureTransform` encodes a DataFrame with. pandas'
per-column calls (``df[col]``, ``pd.to_numeric``) cost tens of microseconds each, most of the
transform of a small table, and a Python lookup per row dominated tables with text columns;
these do the same arithmetic in a few whole-column calls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["category_codes", "plain_numeric_block"]


def plain_numeric_block(X: pd.DataFrame, numeric: list[str]) -> dict[str, np.ndarray]:
    """The columns of ``numeric`` held as plain NumPy numbers (bool, int, uint, float), as
    float32 ``(n, 1)`` views of one array made in a single conversion.

    What ``pd.to_numeric(series).to_numpy(dtype=np.float32)`` gives column by column (numbers
    pass ``to_numeric`` unchanged and are cast once), without pandas' per-column overhead (about
    60 µs a column, most of the transform of a small table). Other columns (objects, pandas'
    nullable and extension types) are left to the column-by-column path and its messages.
    """
    if X.columns.has_duplicates:
        return {}
    dtypes = dict(zip(X.columns, X.dtypes, strict=True))
    names = [c for c in numeric if isinstance(dtypes[c], np.dtype) and dtypes[c].kind in "biuf"]
    if not names:
        return {}
    # every column: the frame itself (selecting columns by a list costs pandas a copy of its index work)
    block = (X if names == list(X.columns) else X[names]).to_numpy(dtype=np.float32)
    return {name: block[:, j:j + 1] for j, name in enumerate(names)}


def category_codes(series: pd.Series, cats: list[str]) -> np.ndarray:
    """Each value's place in ``cats`` (its text, ``"<missing>"`` for a gap; -1 when unseen).

    A pandas categorical column is looked up once per category and indexed by its codes; any
    other column through pandas' hash table (``Index.get_indexer``), not a Python lookup per
    row. (``pd.Categorical(values, categories=cats)`` gave the same codes but deprecates values
    outside ``cats``, which is what a category unseen in training is.)
    """
    index = {c: i for i, c in enumerate(cats)}
    if isinstance(series.dtype, pd.CategoricalDtype):
        # code -1 (a gap) reads the last entry: "<missing>"'s place
        table = np.array([index.get(str(v), -1) for v in series.cat.categories] + [index.get("<missing>", -1)])
        return table[series.cat.codes.to_numpy()]
    values = series.astype(object).where(series.notna(), "<missing>").astype(str).to_numpy()
    return pd.Index(cats, dtype=object).get_indexer(values).astype(np.int64, copy=False)
