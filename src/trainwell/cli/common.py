"""What the commands share: reading a table or an array, the target and its task, the held-out
test rows, and the training flags that become estimator parameters.

Every problem with the user's input ends as a one-sentence :class:`~trainwell.exceptions.DataError`
(exit status 2, see :mod:`.main`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError

__all__ = [
    "add_training_flags",
    "check_test_fraction",
    "class_codes",
    "estimator_class",
    "estimator_params",
    "hold_out",
    "infer_task",
    "read_csv_task",
    "read_npy",
    "read_table",
    "split_target",
    "target_task",
    "test_metrics",
]


# ---------------------------------------------------------------------- reading data
def read_table(path: str) -> pd.DataFrame:
    """Read a CSV file into a DataFrame, turning every parse problem into one sentence."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path} does not exist; give the path of a CSV file.")
    if p.is_dir():
        raise DataError(f"{path} is a folder; give the path of a CSV file.")
    if p.stat().st_size == 0:
        raise DataError(f"{path} is empty; it needs a header row and at least one data row.")
    try:
        frame = pd.read_csv(p, encoding="utf-8", skipinitialspace=True)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#x} at position {exc.start}); save it as UTF-8."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} holds no columns; it needs a header row and at least one data row.") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path} is not a well-formed CSV ({str(exc).strip()}); every row needs as many fields as the header.") from None
    if len(frame) == 0:
        raise DataError(f"{path} has a header but no data rows; add rows to train on.")
    for col in frame.columns:
        if pd.api.types.is_string_dtype(frame[col]) or frame[col].dtype == object:
            frame[col] = frame[col].astype("string").str.strip().astype(object).where(frame[col].notna(), np.nan)
    return frame


def read_npy(path: str, what: str, mapped: bool = True) -> np.ndarray:
    """A ``.npy`` file, memory-mapped (read in place, never loaded whole) unless ``mapped=False``."""
    if not Path(path).is_file():
        raise DataError(f"{what} {path} does not exist; give the path of a .npy file.")
    try:
        return np.load(path, mmap_mode="r" if mapped else None, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{what} {path} is not a plain NumPy array file ({exc}); save it with numpy.save.") from None


# ---------------------------------------------------------------------- the target and its task
def infer_task(y: pd.Series) -> str:
    """``"classification"`` for text, booleans and small sets of integers; ``"regression"`` otherwise."""
    values = y.dropna()
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification"
    is_integer = np.all(np.mod(values.to_numpy(dtype=float), 1) == 0)
    n_unique = values.nunique()
    if is_integer and n_unique <= max(2, min(50, int(0.05 * len(values)) + 2)):
        return "classification"
    return "regression"


def read_csv_task(path: str, target: str, task: str = "auto") -> tuple[pd.DataFrame, np.ndarray, str]:
    """Read a CSV file for a command: features, target values and the task they make.

    ``task="auto"`` infers it (:func:`infer_task`); text labels of a classification are kept
    as strings; a text target cannot be regressed (one-sentence ``DataError``).
    """
    X, y = split_target(read_table(path), target)
    values, task = target_task(y, task, f"The target column {target!r}")
    return X, values, task


def target_task(y: pd.Series, task: str, what: str) -> tuple[np.ndarray, str]:
    """The targets as an array and the task they make (``"auto"`` infers it, :func:`infer_task`).

    Text labels of a classification are kept as strings; a text target cannot be regressed
    (one-sentence ``DataError`` naming ``what``).
    """
    task = task if task != "auto" else infer_task(y)
    numeric = pd.api.types.is_numeric_dtype(y)
    if task == "regression" and not numeric:
        raise DataError(f"{what} holds text; use --task classification or a numeric target.")
    return (y.astype(str).to_numpy() if task == "classification" and not numeric else y.to_numpy()), task


def split_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Separate the target column from the features, with clear errors."""
    if target not in frame.columns:
        cols = ", ".join(map(str, frame.columns[:10]))
        raise DataError(f"The target column {target!r} is not in the data; its columns are: {cols}.")
    y = frame[target]
    if y.isna().all():
        raise DataError(f"The target column {target!r} is empty (every value is missing).")
    if y.isna().any():
        rows = np.flatnonzero(y.isna().to_numpy())[:5].tolist()
        raise DataError(f"The target column {target!r} has {int(y.isna().sum())} missing values (rows {rows}); drop or fill them.")
    if y.nunique() < 2:
        raise DataError(f"The target column {target!r} holds one value only ({y.iloc[0]!r}); there is nothing to learn.")
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise DataError(f"The data has no feature columns besides the target {target!r}.")
    return X, y


# ---------------------------------------------------------------------- the held-out test rows
def check_test_fraction(test_fraction: float) -> None:
    """Refuse a ``--test-fraction`` outside (0, 1)."""
    if not 0 < test_fraction < 1:
        raise DataError(f"--test-fraction {test_fraction} must be between 0 and 1.")


def class_codes(y: Any, task: str) -> np.ndarray | None:
    """Integer codes of the labels, to stratify the split on; ``None`` for a regression."""
    if task != "classification":
        return None
    return np.unique(np.asarray(y).astype(str), return_inverse=True)[1]


def hold_out(y: Any, task: str, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)``: ``test_fraction`` of the rows held out, stratified for a
    classification. ``fit``, ``check`` and ``tune`` split alike, so with the same
    ``--test-fraction`` and ``--seed`` they hold out the same rows."""
    from ..data import split_indices

    check_test_fraction(test_fraction)
    return split_indices(len(y), test_fraction, class_codes(y, task), seed)


def test_metrics(est: Any, X_test: Any, y_test: Any) -> dict[str, float]:
    """Metrics on the held-out test rows: the scores of :func:`trainwell.report.inputs.test_metrics`."""
    from ..report.inputs import test_metrics as scored

    return scored(est, X_test, y_test)[0]


# ---------------------------------------------------------------------- the training flags
def _parse_hidden(text: str | None) -> str | tuple[int, ...]:
    if text is None or text == "auto":
        return "auto"
    try:
        sizes = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise DataError(f"--hidden {text!r} must be comma-separated layer sizes such as 256,128.") from None
    return sizes


def _parse_float(flag: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{flag} {text!r} must be a number.") from None


def estimator_params(args: argparse.Namespace) -> dict[str, Any]:
    """Estimator parameters from the shared training flags (:func:`add_training_flags`)."""
    params: dict[str, Any] = {
        "hidden": _parse_hidden(args.hidden),
        "activation": args.activation,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "l2": args.l2,
        "dropout": args.dropout if args.dropout == "auto" else _parse_float("--dropout", args.dropout),
        "max_epochs": args.max_epochs,
        "patience": args.patience,
        "device": args.device,
        "random_state": args.seed,
        "batchnorm": not args.no_batchnorm,
        "kind": args.kind,
        "augment": args.augment,
        "bf16": args.bf16,
        "cuda_graphs": not args.no_cuda_graphs,
    }
    if args.batch_size is not None:
        params["batch_size"] = args.batch_size
    return params


def estimator_class(task: str) -> type:
    """:class:`~trainwell.NeuralNetClassifier` or :class:`~trainwell.NeuralNetRegressor`, by task."""
    from ..estimators import NeuralNetClassifier, NeuralNetRegressor

    return NeuralNetClassifier if task == "classification" else NeuralNetRegressor


def add_training_flags(p: argparse.ArgumentParser, kind: str = "auto") -> None:
    """The network and training flags of every command that trains (read by :func:`estimator_params`)."""
    g = p.add_argument_group("network and training (defaults: the notes' TL;DR)")
    g.add_argument("--kind", choices=("auto", "mlp", "cnn"), default=kind,
                   help=f"network: auto (a CNN for images), mlp or cnn (default {kind})")
    g.add_argument("--augment", default="auto",
                   help="training augmentation on the device: auto (random shifts for images of 16 px or more), "
                        "none, shift, shift=N, flip, shift+flip")
    g.add_argument("--hidden", default="auto", help="hidden layer sizes, e.g. 256,128 (default: auto)")
    g.add_argument("--activation", default="relu", help="relu, tanh, sigmoid, leaky_relu or prelu")
    g.add_argument("--optimizer", default="adam", help="sgd, momentum, nesterov, adagrad, adadelta, rmsprop or adam")
    g.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    g.add_argument("--l2", type=float, default=1e-4, help="L2 strength (default 1e-4)")
    g.add_argument("--dropout", default="auto", help="dropout probability (default auto: 0.2 below 1,000 rows, else 0)")
    g.add_argument("--batch-size", type=int, default=None, help="batch size (default: auto)")
    g.add_argument("--max-epochs", type=int, default=200, help="most epochs (default 200)")
    g.add_argument("--patience", type=int, default=20, help="early-stopping patience in epochs (default 20)")
    g.add_argument("--no-batchnorm", action="store_true", help="leave batch norm out")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda")
    g.add_argument("--bf16", action="store_true", help="bf16 autocast on CUDA and on CPUs with native bf16 instructions (pays for CNNs; ignored with a warning elsewhere)")
    g.add_argument("--no-cuda-graphs", action="store_true",
                   help="on CUDA, launch every kernel from Python instead of replaying captured training steps")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--test-fraction", type=float, default=0.2, help="rows held out for the test metrics (default 0.2)")
