"""Targets: class labels encoded and decoded, regression targets checked and scaled."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import DataError


def plain(value: Any) -> Any:
    """``value`` as the plain Python value it holds, for a message: ``1``, not ``np.int64(1)``.

    NumPy scalars become Python numbers, arrays lists; tuples and lists are converted item by item.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return type(value)(plain(v) for v in value)
    return value


def check_lengths(X: Any, y: Any) -> None:
    """Fail when X and y have different numbers of samples."""
    nx = X.shape[0] if hasattr(X, "shape") and hasattr(X, "nnz") else len(X)  # len() of a sparse matrix is refused
    ny = len(y)
    if nx != ny:
        raise DataError(f"X has {nx} rows but y has {ny}; give one target per sample.")


def encode_labels(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(classes, codes)`` for classification targets.

    Raises
    ------
    DataError
        For missing labels, continuous targets or a single class.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise DataError(f"y has shape {y.shape}; a classifier needs one label per sample (1-D y).")
    if y.shape[0] == 0:
        raise DataError("y is empty; pass one label per sample.")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise DataError(f"y has {int(np.isnan(y).sum())} missing labels (NaN); drop those rows or fill them in.")
    if y.dtype.kind == "O" and any(v is None or (isinstance(v, float) and np.isnan(v)) for v in y):
        raise DataError("y has missing labels (None/NaN); drop those rows or fill them in.")
    # imported here, as in features.py: `trainwell predict` runs without scikit-learn
    from sklearn.utils.multiclass import check_classification_targets, type_of_target

    try:
        check_classification_targets(y)
    except ValueError:
        raise DataError(
            f"Unknown label type: y looks {type_of_target(y, input_name='y')} (e.g. {y[:3].tolist()}), not like "
            "class labels; use NeuralNetRegressor for numeric targets."
        ) from None
    try:
        classes, codes = np.unique(y, return_inverse=True)
    except TypeError:
        raise DataError("y mixes labels of different types (e.g. numbers and strings); make them one type.") from None
    if len(classes) < 2:
        raise DataError(
            f"y has only one class ({plain(classes[0])!r}); a classifier needs at least two classes to learn to tell apart."
        )
    return classes, codes.astype(np.int64)


def classes_to_json(classes: np.ndarray) -> dict[str, Any]:
    """JSON form of class labels that keeps their type."""
    kind = classes.dtype.kind
    if kind in "iu":
        return {"type": "int", "values": [int(v) for v in classes]}
    if kind == "b":
        return {"type": "bool", "values": [bool(v) for v in classes]}
    if kind == "f":
        return {"type": "float", "values": [float(v) for v in classes]}
    if all(isinstance(v, str) for v in classes):
        return {"type": "str", "values": [str(v) for v in classes]}
    raise DataError("Class labels must be numbers, booleans or strings to be saved.")


def classes_from_json(d: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`classes_to_json`."""
    kind = d["type"]
    dtype = {"int": np.int64, "bool": bool, "float": np.float64, "str": object}[kind]
    return np.array(d["values"], dtype=dtype)


def as_regression_targets(y: Any) -> np.ndarray:
    """Check regression targets and return them as a float32 ``(n, n_targets)`` array."""
    y = np.asarray(y)
    if y.dtype.kind in "OUS":
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError("y holds text; NeuralNetRegressor needs numeric targets (use NeuralNetClassifier for labels).") from None
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise DataError(f"y has shape {y.shape}; pass 1-D targets or a 2-D (n_samples, n_targets) array.")
    if y.shape[0] == 0:
        raise DataError("y is empty; pass one target per sample.")
    if not np.isfinite(y).all():
        row = int(np.argwhere(~np.isfinite(y))[0][0])
        raise DataError(f"y contains NaN or inf (first at row {row}); drop or fill those targets.")
    return y.astype(np.float32)


OUTPUT_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


class TargetScaler:
    """Scale regression targets to what the output layer produces, and back.

    ``mode="standard"`` standardises (identity output); ``mode="range"`` maps the
    training range linearly onto 0.01..0.99 of the output's range (the notes' advice for
    a sigmoid or tanh output); ``mode="none"`` leaves targets as they are.
    """

    def __init__(self, mode: str = "standard", output_activation: str | None = None) -> None:
        self.mode = mode
        self.output_activation = output_activation
        self.offset: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, y: np.ndarray, sample_weight: np.ndarray | None = None) -> TargetScaler:
        """Learn the scaling from training targets ``y``; with ``sample_weight`` the mean and
        deviation are weighted and the range spans the rows of positive weight."""
        if sample_weight is not None:
            y, sample_weight = y[sample_weight > 0], sample_weight[sample_weight > 0]
        if self.mode == "standard":
            self.offset = np.average(y, axis=0, weights=sample_weight)
            self.scale = np.sqrt(np.average((y - self.offset) ** 2, axis=0, weights=sample_weight))
        elif self.mode == "range":
            lo, hi = OUTPUT_RANGES[self.output_activation]
            span = hi - lo
            a, b = lo + 0.01 * span, hi - 0.01 * span
            ymin, ymax = y.min(axis=0), y.max(axis=0)
            width = np.where(ymax - ymin < 1e-12, 1.0, ymax - ymin)
            self.scale = width / (b - a)
            self.offset = ymin - a * self.scale
        else:
            self.offset = np.zeros(y.shape[1], dtype=np.float32)
            self.scale = np.ones(y.shape[1], dtype=np.float32)
        self.scale = np.where(self.scale < 1e-12, 1.0, self.scale).astype(np.float32)
        self.offset = np.asarray(self.offset, dtype=np.float32)
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.offset) / self.scale).astype(np.float32)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        return z * self.scale + self.offset

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "output_activation": self.output_activation,
                "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetScaler:
        s = cls(d["mode"], d["output_activation"])
        s.offset = np.asarray(d["offset"], dtype=np.float32)
        s.scale = np.asarray(d["scale"], dtype=np.float32)
        return s


def targets_outside_output(y_scaled: np.ndarray, output_activation: str | None) -> str | None:
    """A sentence when (scaled) targets lie outside what the output activation can produce."""
    if output_activation is None:
        return None
    lo, hi = OUTPUT_RANGES[output_activation]
    outside = (y_scaled < lo) | (y_scaled > hi)
    if not outside.any():
        return None
    return (
        f"{outside.mean():.0%} of the targets lie outside ({lo:g}, {hi:g}), the range a {output_activation} output "
        f"can produce (targets span {float(y_scaled.min()):.3g} to {float(y_scaled.max()):.3g}): the output will "
        "saturate. Use target_scaling='auto' or output_activation=None."
    )
