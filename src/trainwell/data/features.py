"""Turn user features (arrays or DataFrames) into the float matrix a network trains on.

Numeric columns are standardised with the TRAINING statistics only; string, categorical and
boolean columns of a DataFrame are one-hot encoded with the categories seen in training (an unseen
category at predict time becomes all zeros, a missing one is a category of its own; the column
arithmetic is in :mod:`.table_encoding`). With ``missing="auto"`` numeric gaps (NaN) of a table are
filled with the training medians, plus a missing-indicator column for each column that had gaps in
training. With ``numeric_encoding="piecewise"`` each numeric column also gets its piecewise-linear
encoding (:mod:`.piecewise`), appended last. Image and signal arrays are scaled per channel.
Everything learned here is plain numbers and strings, stored in ``model.json``: scikit-learn's
``OneHotEncoder``/``SimpleImputer``/``StandardScaler`` do the same arithmetic, but their fitted
state can only be saved by pickling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError
from . import piecewise
from .arrays import as_float_array
from .finite import find_non_finite, is_categorical, non_finite_message
from .sparse import as_csr, is_sparse, sparse_scale
from .statistics import (
    is_signal_shape,
    looks_like_pixels,
    mean_and_std,
    robust_statistics,
    smooth_clip,
)
from .table_encoding import category_codes, plain_numeric_block
from .targets import plain

__all__ = ["FeatureTransform", "as_float_array"]


class FeatureTransform:
    """Learned feature preparation: column layout, categories, and scaling statistics.

    Fit on training data only (:meth:`fit`), then :meth:`transform` any data with the
    same columns. ``to_dict``/``from_dict`` give the JSON form.
    """

    def __init__(self) -> None:
        self.columns: list[str] | None = None
        self.categories: dict[str, list[Any]] = {}
        self.sample_shape: tuple[int, ...] = ()
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.per_channel = False
        self.scaling = "feature"
        #: Training median of every encoded column (0 for one-hot columns), or ``None``
        #: when NaN is refused (``missing="error"``, images, models saved before imputation).
        self.fill: np.ndarray | None = None
        #: Encoded columns that had gaps in training: each gets a 0/1 missing-indicator input.
        self.indicate: list[int] = []
        #: Gaps per encoded column in the training rows (the columns that had any).
        self.n_missing: dict[str, int] = {}
        #: Piecewise-linear bins: encoded column -> its edges (empty: no encoding); the bins'
        #: columns come after the indicators, unscaled (each is within [0, 1] on training data).
        self.bins: dict[int, list[float]] = {}
        #: Fitted on a sparse matrix: columns scaled without centring (mean 0), output kept sparse.
        self.sparse = False

    # ----------------------------------------------------------------- fitting
    def fit(self, X: Any, *, scaling: str = "auto", missing: str = "error",
            sample_weight: np.ndarray | None = None, numeric_encoding: str = "none",
            y: np.ndarray | None = None, classification: bool = True) -> FeatureTransform:
        """Learn columns, categories and TRAINING statistics from ``X``.

        Parameters
        ----------
        X : array-like or DataFrame
        sample_weight : ndarray of shape (n_samples,), optional
            Weighted statistics (a row of weight 2 counts twice, one of weight 0 not at all).
        scaling : {"auto", "feature", "global", "robust", "none"}, in any case
            ``"feature"`` standardises each numeric column with its own mean and standard
            deviation; ``"global"`` uses one mean and deviation for all of them (per channel
            for images); ``"robust"`` centres each numeric column of a table on its median,
            divides by its interquartile range (:func:`robust_statistics`) and clips smoothly
            (:func:`smooth_clip`); ``"auto"`` picks ``"global"`` for images and for pixel-like
            tables (see :func:`looks_like_pixels`) and ``"feature"`` otherwise.
        missing : {"auto", "error"}, default="error"
            ``"auto"``: NaN in a numeric column of a 2-D table is filled with that column's
            median over these rows, and each column that has gaps here gets a missing-indicator
            column (1 where the value was missing), appended after the encoded columns as
            :class:`sklearn.impute.SimpleImputer` with ``add_indicator=True`` does. ``"error"``,
            and any array with more than two dimensions (images, signals): NaN is refused.
            Infinite values are refused either way.
        numeric_encoding : {"auto", "piecewise", "none"}, default="none"
            ``"piecewise"`` appends the piecewise-linear encoding of each numeric column of a
            table (:func:`.piecewise.fit_edges`: bins from a small decision tree on the column
            and ``y``); ``"auto"`` does so for tables of at least 1,000 rows and at most 64
            numeric columns (:func:`.piecewise.resolve_encoding`). Never for images, signals, pixel-like
            tables or sparse matrices.
        y : ndarray, optional
            The rows' class codes or targets: needed by ``numeric_encoding``.
        classification : bool, default=True
            Whether ``y`` holds class codes (else values).
        """
        if is_sparse(X):
            return self._fit_sparse(as_csr(X), scaling.lower(), sample_weight)
        if isinstance(X, pd.DataFrame):
            self.columns = [str(c) for c in X.columns]
            for col in X.columns:
                if is_categorical(X[col]):
                    values = X[col].dropna()
                    cats = sorted({str(v) for v in values})
                    if X[col].isna().any():
                        cats.append("<missing>")
                    self.categories[str(col)] = cats
        raw = self._encode(X, nan=missing.lower() == "auto")
        if raw.ndim == 2 and missing.lower() == "auto":
            self._fit_fill(raw)
        Xf = self._fill(raw)
        self._fit_bins(Xf, raw.shape[1], scaling, numeric_encoding, y, classification, sample_weight)
        Xf = self._append_bins(Xf)
        self.sample_shape = tuple(Xf.shape[1:])
        self.per_channel = Xf.ndim > 2
        w = sample_weight
        binary = self._binary_mask() if Xf.ndim == 2 else None  # one-hot and indicator columns
        if Xf.ndim == 4:  # (n, channels, height, width): one statistic per channel
            mean, scale = mean_and_std(Xf, (0, 2, 3), weights=w)
        elif Xf.ndim == 3:  # (n, height, width) grey images or (n, channels, length) signals
            mean, scale = mean_and_std(Xf, (0, 2) if is_signal_shape(Xf.shape[1:]) else (0, 1, 2), weights=w)
        else:
            mean, scale = mean_and_std(Xf, (0,), weights=w)
            # one-hot and missing-indicator columns stay 0/1
            mean[binary] = 0.0
            scale[binary] = 1.0
        scaling = scaling.lower()  # names in any case: "Feature" is feature
        if scaling == "auto":
            scaling = "global" if Xf.ndim > 2 or looks_like_pixels(Xf, binary if binary.any() else None) else "feature"
        if scaling == "robust" and Xf.ndim > 2:
            scaling = "global"  # images and signals: per-channel standardisation, as "auto" gives them
        self.scaling = scaling
        if scaling == "robust":
            numeric = ~binary
            mean[numeric], scale[numeric] = robust_statistics(Xf, numeric)
        if scaling == "global" and Xf.ndim == 2:
            numeric = ~binary
            global_mean, global_std = mean_and_std(Xf, (0, 1), columns=None if numeric.all() else numeric, weights=w)
            mean[numeric], scale[numeric] = global_mean[0], global_std[0]
        scale[scale < 1e-12] = 1.0  # constant features: centred, not divided by zero
        if scaling == "none":
            mean[:] = 0.0
            scale[:] = 1.0
        self.mean, self.scale = mean.astype(np.float32), scale.astype(np.float32)
        return self

    def _fit_sparse(self, X: Any, scaling: str, sample_weight: np.ndarray | None) -> FeatureTransform:
        """Statistics of a sparse matrix: every column divided by its deviation, none centred
        (``StandardScaler(with_mean=False)``), so zeros stay zeros and the matrix stays sparse."""
        self._check_sparse(X)
        self.sparse = True
        self.sample_shape = (X.shape[1],)
        self.scaling = "feature" if scaling == "auto" else scaling
        self.mean = np.zeros(X.shape[1], dtype=np.float32)
        self.scale = sparse_scale(X, self.scaling, sample_weight).astype(np.float32)
        return self

    @staticmethod
    def _check_sparse(X: Any) -> None:
        if X.shape[0] == 0:
            raise DataError("X has no rows; pass at least one sample.")
        if X.shape[1] == 0:
            raise DataError("X has no feature columns; pass at least one feature.")
        if X.dtype.kind not in "biuf":
            raise DataError(f"X is a sparse matrix of {X.dtype}; it must hold numbers (int or float).")
        found = find_non_finite(X)
        if found is not None:
            raise DataError(non_finite_message(found))

    def _transform_sparse(self, X: Any) -> Any:
        """``X`` (CSR) scaled as :meth:`transform` scales dense rows, still CSR, float32."""
        X = as_csr(X)
        self._check_sparse(X)
        if (X.shape[1],) != self.sample_shape:
            raise DataError(f"X has {X.shape[1]} features but the model was trained on {self.sample_shape[0]}; "
                            "pass data with the same features as in training.")
        Xs = X.astype(np.float32)  # a copy: the caller's matrix is left as it is
        Xs.data /= self.scale[Xs.indices]  # (x - 0) / scale, the dense path's arithmetic on the stored values
        return Xs

    def _fit_bins(self, Xf: np.ndarray, width: int, scaling: str, encoding: str, y: np.ndarray | None,
                  classification: bool, sample_weight: np.ndarray | None) -> None:
        """Find the piecewise-linear bins of the numeric columns (``width`` encoded columns)."""
        self.bins = {}
        if Xf.ndim != 2 or y is None or encoding.lower() == "none":
            return
        onehot = self._onehot_mask(width)
        binary = np.concatenate([onehot, np.ones(Xf.shape[1] - width, dtype=bool)])
        is_table = not (scaling.lower() in ("auto", "global") and looks_like_pixels(Xf, binary if binary.any() else None))
        numeric = np.flatnonzero(~onehot)
        if piecewise.resolve_encoding(encoding, len(Xf), is_table, len(numeric)) != "piecewise":
            return
        self.bins = piecewise.fit_edges(Xf, np.asarray(y), numeric, classification, sample_weight)

    def _append_bins(self, Xf: np.ndarray) -> np.ndarray:
        """``Xf`` (filled, with its indicators) and the piecewise-linear encoding after it."""
        if not self.bins:
            return Xf
        return np.concatenate([Xf, piecewise.encode(Xf, self.bins)], axis=1)

    @property
    def n_bin_columns(self) -> int:
        """Columns of the piecewise-linear encoding (0 without it)."""
        return piecewise.n_encoded_columns(self.bins)

    def _onehot_mask(self, width: int) -> np.ndarray:
        """Which of the ``width`` encoded columns (before any indicator) are one-hot."""
        if self.columns is None:
            return np.zeros(width, dtype=bool)
        mask = []
        for col in self.columns:
            if col in self.categories:
                mask += [True] * len(self.categories[col])
            else:
                mask.append(False)
        return np.array(mask, dtype=bool)

    def _binary_mask(self) -> np.ndarray:
        """Which columns of the final matrix are never scaled: one-hot, missing indicators, and
        the piecewise-linear bins (already within [0, 1])."""
        width = self.sample_shape[0] - len(self.indicate) - self.n_bin_columns
        return np.concatenate([self._onehot_mask(width), np.ones(len(self.indicate) + self.n_bin_columns, dtype=bool)])

    def _fit_fill(self, raw: np.ndarray) -> None:
        """Training medians of the numeric columns, and which columns get a missing indicator.

        Column by column in float64 (as :class:`sklearn.impute.SimpleImputer` computes them):
        ``np.nanmedian`` of the whole matrix would copy all of it at once. A column missing in
        every training row is filled with 0 (SimpleImputer's ``keep_empty_features=True``).
        """
        numeric = ~self._onehot_mask(raw.shape[1])
        fill = np.zeros(raw.shape[1], dtype=np.float64)
        names = self._expanded_names() or [f"feature {i}" for i in range(raw.shape[1])]
        self.indicate, self.n_missing = [], {}
        for j in np.flatnonzero(numeric):
            column = raw[:, j].astype(np.float64)
            gaps = np.isnan(column)
            n_gaps = int(gaps.sum())
            if n_gaps:
                self.indicate.append(int(j))
                self.n_missing[names[j]] = n_gaps
            fill[j] = 0.0 if n_gaps == len(column) else (np.nanmedian(column) if n_gaps else np.median(column))
        self.fill = fill.astype(np.float32)

    def _fill(self, raw: np.ndarray) -> np.ndarray:
        """Gaps filled with the training medians, then the missing indicators appended."""
        if self.fill is None or raw.ndim != 2:
            return raw
        gaps = np.isnan(raw)
        if not gaps.any() and not self.indicate:
            return raw
        indicators = gaps[:, self.indicate].astype(np.float32)
        if gaps.any():
            raw = np.where(gaps, self.fill[None, :], raw)
        return np.concatenate([raw, indicators], axis=1) if self.indicate else raw

    # --------------------------------------------------------------- transform
    def _encode(self, X: Any, nan: bool = False) -> np.ndarray:
        """``X`` as a float32 matrix (one-hot columns in place), before filling and scaling.

        ``nan=True`` lets NaN through in a 2-D matrix (it is filled later); infinite values,
        and NaN in images and signals, are refused with one sentence.
        """
        if self.columns is None:
            if isinstance(X, pd.DataFrame):
                X = X.to_numpy()
            arr = as_float_array(X)
        else:
            if not isinstance(X, pd.DataFrame):
                X = pd.DataFrame(np.asarray(X, dtype=object), columns=self.columns) if np.ndim(X) == 2 and np.shape(X)[1] == len(self.columns) else X
            if not isinstance(X, pd.DataFrame):
                raise DataError(f"X must be a table with the {len(self.columns)} columns seen in fit: {self.columns[:5]}...")
            given = {str(k) for k in X.columns}
            missing = [c for c in self.columns if c not in given]
            if missing:
                raise DataError(f"X lacks the column(s) {missing} seen in fit; pass the same columns as in training.")
            if not all(isinstance(c, str) for c in X.columns):
                X = X.rename(columns=str)
            plain_numbers = plain_numeric_block(X, [c for c in self.columns if c not in self.categories])
            parts = []
            for col in self.columns:
                if col in plain_numbers:
                    parts.append(plain_numbers[col])
                    continue
                series = X[col]
                if col in self.categories:
                    cats = self.categories[col]
                    codes = category_codes(series, cats)
                    onehot = np.zeros((len(codes), len(cats)), dtype=np.float32)
                    known = codes >= 0
                    onehot[np.nonzero(known)[0], codes[known]] = 1.0
                    parts.append(onehot)
                else:
                    try:
                        parts.append(pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float32)[:, None])
                    except (TypeError, ValueError):
                        bad = np.flatnonzero(pd.to_numeric(series, errors="coerce").isna() & series.notna())
                        raise DataError(  # the row by position, as the user counts it (not the index label)
                            f"Column {col!r} was numeric in training but holds {plain(series.iloc[bad[0]])!r} at row "
                            f"{bad[0]}; fix or drop that value."
                        ) from None
            arr = np.concatenate(parts, axis=1) if parts else np.zeros((len(X), 0), dtype=np.float32)
        if arr.shape[0] == 0:
            raise DataError("X has no rows; pass at least one sample.")
        if arr.ndim == 2 and arr.shape[1] == 0:
            raise DataError("X has no feature columns; pass at least one feature.")
        found = find_non_finite(arr, columns=self._expanded_names(), nan=not (nan and arr.ndim == 2))
        if found is not None:
            raise DataError(non_finite_message(found))
        return arr

    def _expanded_names(self) -> list[str] | None:
        """Names of the encoded columns before the indicators (``None`` for arrays)."""
        if self.columns is None:
            return None
        names = []
        for col in self.columns:
            if col in self.categories:
                names += [f"{col}={c}" for c in self.categories[col]]
            else:
                names.append(col)
        return names

    def transform(self, X: Any) -> np.ndarray:
        """Encode, fill gaps and scale ``X`` with the statistics learned in :meth:`fit`; float32.

        A sparse ``X`` stays sparse (CSR) when the transform was fitted on sparse data (no
        centring); with statistics from dense data it is densified (callers pass it in chunks).
        With imputation fitted (``missing="auto"``), a NaN in any numeric column is filled with
        that column's training median, also in a column that had no gaps in training (it has
        no indicator input: the network was built without one).
        """
        if is_sparse(X):
            if self.sparse:
                return self._transform_sparse(X)
            X = as_csr(X).toarray()
        Xf = self._append_bins(self._fill(self._encode(X, nan=self.fill is not None)))
        if tuple(Xf.shape[1:]) != self.sample_shape:
            raise DataError(
                f"X has samples of shape {tuple(Xf.shape[1:])} but the model was trained on shape "
                f"{self.sample_shape}; pass data with the same features as in training."
            )
        mean, scale = self.mean, self.scale
        if self.per_channel:
            shape = (1, -1) + (1,) * (Xf.ndim - 2) if self.mean.size > 1 else (1,) * Xf.ndim
            mean, scale = mean.reshape(shape), scale.reshape(shape)
        # the division in place: one result array, not three (memory for large inputs)
        scaled = Xf - mean
        scaled /= scale
        if self.scaling == "robust":
            numeric = ~self._binary_mask()
            scaled[:, numeric] = smooth_clip(scaled[:, numeric])
        return scaled.astype(np.float32, copy=False)

    @property
    def n_encoded(self) -> int:
        """Width of the encoded matrix (features after one-hot)."""
        return int(np.prod(self.sample_shape))

    # ---------------------------------------------------------------- JSON form
    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "categories": self.categories,
            "sample_shape": list(self.sample_shape),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "per_channel": self.per_channel,
            "scaling": self.scaling,
            "sparse": self.sparse,
            "fill": None if self.fill is None else self.fill.tolist(),
            "indicate": list(self.indicate),
            "n_missing": dict(self.n_missing),
            "bins": {str(j): list(e) for j, e in self.bins.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureTransform:
        t = cls()
        t.columns = d["columns"]
        t.categories = {k: list(v) for k, v in d["categories"].items()}
        t.sample_shape = tuple(int(v) for v in d["sample_shape"])
        t.mean = np.asarray(d["mean"], dtype=np.float32)
        t.scale = np.asarray(d["scale"], dtype=np.float32)
        t.per_channel = bool(d["per_channel"])
        t.scaling = str(d.get("scaling", "feature"))
        t.sparse = bool(d.get("sparse", False))
        fill = d.get("fill")  # absent in models saved before imputation: NaN stays an error there
        t.fill = None if fill is None else np.asarray(fill, dtype=np.float32)
        t.indicate = [int(i) for i in d.get("indicate", [])]
        t.n_missing = {str(k): int(v) for k, v in d.get("n_missing", {}).items()}
        t.bins = {int(j): [float(v) for v in e] for j, e in d.get("bins", {}).items()}  # absent before the encoding
        return t
