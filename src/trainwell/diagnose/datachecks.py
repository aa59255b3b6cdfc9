"""Checks on the data alone (the notes' "Data preparation"): each returns Findings.

Inputs far from standardised, constant features, missing values, rows shared between the
training and the test data, extreme class imbalance, classes with too few rows. Regression
targets the output cannot produce need the estimator's target scaling and live in :mod:`.checks`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from .findings import Finding

# A column counts as "not standardised" when its mean or its spread is this far from 0 / 1.
MEAN_LIMIT = 3.0
STD_LOW, STD_HIGH = 0.1, 10.0
IMBALANCE_RATIO = 10.0
# Exact repeats happen in low-resolution measurements (iris: 1 test row in 30); a leaky split copies many.
OVERLAP_WARNING = 0.05
#: Rows a class needs at the least: some to learn from, and one or more each for validation and test.
MIN_CLASS_ROWS = 5
#: Rare classes become a warning when they are this share of the classes (one odd class is only information).
RARE_CLASS_SHARE = 0.1


def numeric_matrix(X: Any) -> tuple[np.ndarray, list[str]]:
    """The numeric columns of ``X`` as a 2-D float array, with their names.

    DataFrames keep only their numeric (non-boolean) columns; image-shaped arrays are
    flattened to one column per pixel.
    """
    if isinstance(X, pd.DataFrame):
        cols = [c for c in X.columns
                if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]
        return X[cols].to_numpy(dtype=np.float64), [str(c) for c in cols]
    arr = np.asarray(X)
    if arr.dtype.kind not in "fiub":
        arr = arr.astype(np.float64)
    arr = arr.reshape(arr.shape[0], -1)
    return arr, [f"feature {i}" for i in range(arr.shape[1])]


def _names(names: list[str], mask: np.ndarray, limit: int = 5) -> str:
    picked = [names[i] for i in np.flatnonzero(mask)[:limit]]
    more = int(mask.sum()) - len(picked)
    return ", ".join(picked) + (f" and {more} more" if more > 0 else "")


def _counts(names: list[str], per_col: np.ndarray, limit: int = 5) -> str:
    """``"'age' 12, 'fare' 3"``: the columns with a count above 0, most first."""
    order = [i for i in np.argsort(-per_col, kind="stable") if per_col[i] > 0]
    shown = ", ".join(f"{names[i]}: {int(per_col[i])}" for i in order[:limit])
    return shown + (f" and {len(order) - limit} more column(s)" if len(order) > limit else "")


def missing_values(X: np.ndarray, names: list[str], y: Any = None, missing: str = "error") -> list[Finding]:
    """NaN or infinite values in the numeric features or in the targets.

    With ``missing="auto"`` (the estimators' default) NaN in the features is information: the
    fit fills it with the training medians and adds missing-indicator inputs (counts per
    column). Infinite values, NaN under ``missing="error"``, and missing targets are errors.
    """
    findings = []
    fills = isinstance(missing, str) and missing.lower() == "auto"
    nan, inf = np.isnan(X), np.isinf(X)
    bad = inf if fills else nan | inf
    if bad.any():
        per_col = bad.sum(axis=0)
        what = "infinite" if fills or not nan.any() else ("missing or infinite" if inf.any() else "missing (NaN)")
        findings.append(Finding(
            "missing_values", "error",
            f"X has {int(bad.sum())} {what} values in {int((per_col > 0).sum())} column(s) "
            f"({_counts(names, per_col)}); training cannot use them.",
            "Replace the infinite values with finite numbers (or drop those rows)." if fills else
            "Use missing='auto' (training medians plus a missing indicator), or drop those rows or impute the "
            "values (e.g. sklearn.impute.SimpleImputer) before fitting.",
            {"n_missing": int(nan.sum()), "n_infinite": int(inf.sum()),
             "columns": [names[i] for i in np.flatnonzero(per_col)][:20]},
        ))
    if fills and nan.any():
        findings += _filled(names, nan.sum(axis=0), len(X))
    if y is not None:
        y_arr = np.asarray(y)
        if y_arr.dtype.kind == "f" and not np.isfinite(y_arr).all():
            n_bad = int((~np.isfinite(y_arr)).sum())
            findings.append(Finding(
                "missing_values", "error", f"y has {n_bad} missing or infinite targets.",
                "Drop those rows or fill the targets in before fitting.", {"n_missing_targets": n_bad},
            ))
    return findings


def _filled(names: list[str], per_col: np.ndarray, n_rows: int | None, where: str = "X has") -> list[Finding]:
    n_cols = int((per_col > 0).sum())
    rows = f" of {n_rows} rows" if n_rows else ""
    return [Finding(
        "missing_filled", "info",
        f"{where} {int(per_col.sum())} missing (NaN) values{rows} in {n_cols} numeric column(s) "
        f"({_counts(names, per_col)}); missing='auto' fills each with its column's training median and gives "
        "the network a 0/1 input per such column saying the value was missing.",
        "Nothing to do; pass missing='error' to refuse gaps instead, or impute them your own way before fitting.",
        {"counts": {names[i]: int(per_col[i]) for i in np.flatnonzero(per_col)}},
    )]


def filled_gaps(transform: Any) -> list[Finding]:
    """The gaps a fitted feature transform filled in its training rows, counted per column.

    Parameters
    ----------
    transform : trainwell.data.FeatureTransform
        Fitted with ``missing="auto"``; its ``n_missing`` holds the counts.

    Returns
    -------
    list of Finding
        One ``missing_filled`` information finding, or none when there were no gaps.
    """
    counts = getattr(transform, "n_missing", None) or {}
    if not counts:
        return []
    names = list(counts)
    return _filled(names, np.array([counts[n] for n in names]), None, where="The training rows have")


STATS_ROWS = 10_000  # means and deviations from this many rows are plenty to judge the scale


def _moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and deviation per column over the values present (missing ones, NaN, left out)."""
    if len(X) > STATS_ROWS:
        X = X[np.random.default_rng(0).choice(len(X), STATS_ROWS, replace=False)]
    with warnings.catch_warnings():  # a column with no value at all: NaN, which no comparison flags
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(X, axis=0, dtype=np.float64), np.nanstd(X, axis=0, dtype=np.float64)


def column_scaling(X: np.ndarray, names: list[str], seen: np.ndarray | None = None,
                   scaling: str | None = None) -> list[Finding]:
    """Constant columns, and columns far from mean 0 / standard deviation 1.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The raw numeric features.
    names : list of str
    seen : ndarray of shape (n_rows, n_inputs), optional
        What the network receives after the estimator's own scaling (a sample). When
        those inputs are fine, unscaled raw columns are only information; when the
        network itself sees large values (e.g. ``scaling="none"``), it is a warning.
    scaling : str, optional
        The estimator's ``scaling`` setting, quoted in the message.
    """
    if X.size == 0:
        return []
    with warnings.catch_warnings():  # over every row (a sample could miss the odd value), gaps left out
        warnings.simplefilter("ignore", RuntimeWarning)
        top, bottom = np.nanmax(X, axis=0), np.nanmin(X, axis=0)
    empty = np.isnan(top)  # no value at all: neither constant nor varying (their statistics are NaN)
    constant = top == bottom
    mean, std = _moments(X)
    findings = []
    if empty.any():
        findings.append(Finding(
            "empty_features", "warning",
            f"{int(empty.sum())} of {len(names)} features have no value in any row ({_names(names, empty)}): "
            "they carry no information.",
            "Drop them (--drop on the command line); some models refuse them (HistGradientBoosting does).",
            {"n_empty": int(empty.sum()), "columns": [names[i] for i in np.flatnonzero(empty)]},
        ))
    if constant.any():
        every = bool(constant.all())
        findings.append(Finding(
            "constant_features", "error" if every else "info",
            ("Every feature is constant: the inputs carry no information." if every else
             f"{int(constant.sum())} of {len(names)} features are constant ({_names(names, constant)}); "
             "they carry no information (trainwell centres them to 0, so they do no harm)."),
            "Check the data pipeline: the features may have been zeroed or overwritten." if every else
            "Drop them to save memory and time, e.g. sklearn.feature_selection.VarianceThreshold.",
            {"n_constant": int(constant.sum()), "n_features": len(names)},
        ))
    varying = ~constant & ~empty
    off = varying & ((np.abs(mean) > MEAN_LIMIT) | (std > STD_HIGH) | (std < STD_LOW))
    seen_off = None
    if seen is not None and seen.size:
        s_mean, s_std = _moments(seen.reshape(seen.shape[0], -1).astype(np.float64))
        # only large values hurt the network (saturation, exploding steps); tiny ones merely contribute little
        seen_off = (np.abs(s_mean) > MEAN_LIMIT) | (s_std > STD_HIGH)
    if seen_off is not None and seen_off.any():
        findings.append(Finding(
            "inputs_not_scaled", "warning",
            f"The network receives {int(seen_off.sum())} input(s) far from standardised (means up to "
            f"{np.abs(s_mean).max():.3g}, standard deviations up to {s_std.max():.3g}) with scaling={scaling!r}: "
            "large inputs saturate units, make the first layer's gradients huge and the loss surface badly "
            "conditioned.",
            "Use scaling='auto' (standardise with the training rows' statistics), or scale X yourself.",
            {"n_off": int(seen_off.sum()), "max_abs_mean": float(np.abs(s_mean).max()), "max_std": float(s_std.max()),
             "scaling": scaling},
            fix={"scaling": "auto"} if scaling != "auto" else {},
        ))
    elif off.any():
        findings.append(Finding(
            "inputs_not_scaled", "info",
            f"{int(off.sum())} of {int(varying.sum())} raw features are far from standardised (means from "
            f"{mean[varying].min():.3g} to {mean[varying].max():.3g}, standard deviations from "
            f"{std[varying].min():.3g} to {std[varying].max():.3g}; e.g. {_names(names, off, 3)}). "
            f"trainwell scales them (scaling={scaling!r}) with the training rows' statistics, so the network "
            "sees them standardised.",
            "Nothing to do for trainwell; scale X the same way (e.g. sklearn StandardScaler fitted on the "
            "training rows) before giving it to a model that does not.",
            {"n_off": int(off.sum()), "mean_min": float(mean[varying].min()), "mean_max": float(mean[varying].max()),
             "std_min": float(std[varying].min()), "std_max": float(std[varying].max()), "scaling": scaling},
        ))
    return findings


def _row_hashes(X: Any) -> np.ndarray:
    """A 64-bit hash of every row (equal rows, equal hashes)."""
    if not isinstance(X, pd.DataFrame):
        arr = np.asarray(X)
        X = pd.DataFrame(arr.reshape(len(arr), -1))
    # pandas hashes column by column in C: about a second for 60,000 x 784 (faster than
    # hashing each row's bytes or sorting rows as raw bytes, measured)
    return pd.util.hash_pandas_object(X, index=False).to_numpy()


def natural_overlap(train_hashes: np.ndarray) -> float:
    """Share of training rows that have an exact twin among the other training rows.

    It estimates how often a new row drawn like the training rows matches one of them by
    chance: coarse features (Titanic's class, sex, age and fare; Adult's census codes) repeat
    honestly, and a test split drawn from the same table shares rows at that rate.
    """
    _, inverse, counts = np.unique(train_hashes, return_inverse=True, return_counts=True)
    return float((counts[inverse] > 1).mean()) if len(train_hashes) else 0.0


def train_test_overlap(X: Any, X_test: Any) -> list[Finding]:
    """Test rows that also occur, exactly, among the training rows, beyond what chance explains.

    A warning when the shared fraction exceeds both :data:`OVERLAP_WARNING` and the rate at
    which the training rows repeat among themselves (:func:`natural_overlap`) by more than
    three standard errors; else information.
    """
    train_hashes = _row_hashes(X)
    test_hashes = _row_hashes(X_test)
    shared = np.isin(test_hashes, train_hashes)
    n_shared = int(shared.sum())
    if n_shared == 0:
        return []
    fraction = n_shared / len(test_hashes)
    natural = natural_overlap(train_hashes)
    allowance = natural + 3 * math.sqrt(max(natural * (1 - natural), 1e-4) / len(test_hashes))
    leak = fraction >= max(OVERLAP_WARNING, allowance)
    chance = (f" The training rows repeat among themselves at about that rate ({natural:.1%} have a twin), so "
              "these are more likely honest repeats than a leaky split." if not leak and natural > 0 else "")
    return [Finding(
        "train_test_overlap", "warning" if leak else "info",
        f"{n_shared} of {len(test_hashes)} test rows ({fraction:.1%}) also appear in the training data; "
        f"the test score counts them as new although the model has seen them.{chance}",
        "Remove duplicates before splitting (e.g. df.drop_duplicates()), or split by group so copies "
        "stay on one side.",
        {"n_shared": n_shared, "n_test": len(test_hashes), "fraction": fraction, "natural": natural},
    )]


def class_imbalance(y: Any, class_weight: Any = None) -> list[Finding]:
    """The rarest class has fewer than a tenth of the rows of the most common one."""
    labels, counts = np.unique(np.asarray(y).ravel(), return_counts=True)
    return imbalance_from_counts(labels, counts, class_weight)


def imbalance_from_counts(labels: Any, counts: Any, class_weight: Any = None) -> list[Finding]:
    """:func:`class_imbalance` from the rows per class (``labels[i]`` has ``counts[i]`` rows)."""
    labels, counts = np.asarray(labels), np.asarray(counts)
    keep = counts > 0
    labels, counts = labels[keep], counts[keep]
    if len(labels) < 2:
        return []
    ratio = counts.max() / counts.min()
    if ratio < IMBALANCE_RATIO:
        return []
    rare = labels[counts.argmin()]
    handled = class_weight is not None
    return [Finding(
        "class_imbalance", "info" if handled else "warning",
        f"Class {rare!r} has {counts.min()} rows against {counts.max()} for the most common class "
        f"(1:{ratio:.0f}); accuracy will look good even if the rare class is never predicted."
        + (" class_weight is set, which counters it in the loss." if handled else ""),
        "Use class_weight='balanced', judge the model by per-class recall or balanced accuracy, "
        "and keep the split stratified." if not handled else "Judge the model by per-class recall or balanced accuracy.",
        {"ratio": float(ratio), "counts": {str(k): int(v) for k, v in zip(labels, counts, strict=True)}},
    )]


def rare_classes(y: Any) -> list[Finding]:
    """Classes with fewer than :data:`MIN_CLASS_ROWS` rows: too few to learn, validate and test each.

    A class needs rows to learn from, one in the validation rows for early stopping to see it,
    and one in the test rows to be measured; with fewer, splits leave it out of training
    (its test rows then count as errors) or out of the test (its errors go unseen). A warning
    when at least :data:`RARE_CLASS_SHARE` of the classes are that rare, else information.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.

    Returns
    -------
    list of Finding
        One ``rare_classes`` finding, or none.
    """
    labels, counts = np.unique(np.asarray(y).ravel(), return_counts=True)
    rare = counts < MIN_CLASS_ROWS
    n_rare = int(rare.sum())
    if n_rare == 0:
        return []
    share = n_rare / len(labels)
    examples = ", ".join(f"{label!r} ({count})" for label, count in zip(labels[rare][:3].tolist(),
                                                                            counts[rare][:3].tolist(), strict=True))
    return [Finding(
        "rare_classes", "warning" if share >= RARE_CLASS_SHARE else "info",
        f"{n_rare} of {len(labels)} classes have fewer than {MIN_CLASS_ROWS} rows (the fewest {int(counts.min())}; "
        f"e.g. {examples}); a class needs rows to learn from, to validate on and to test on, so these can be "
        "neither learned nor measured reliably.",
        "Collect more rows of the rare classes, merge them (e.g. into an 'other' class), or drop them.",
        {"n_rare": n_rare, "n_classes": int(len(labels)), "min_rows": MIN_CLASS_ROWS, "fewest": int(counts.min()),
         "share": float(share)},
    )]
