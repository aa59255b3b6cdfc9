"""What the commands share: reading a table or an array, the target and its task, the held-out
test rows, and the training flags that become estimator parameters.

Every problem with the user's input ends as a one-sentence :class:`~trainwell.exceptions.DataError`
(exit status 2, see :mod:`.main`). Rows are named as the user's file numbers them: a CSV file's
data rows from 0 below the header, with the line of the file beside it.

The training flags are one table, :data:`TRAINING_FLAGS` (the estimator parameter each sets, how
its text is read, its help), and :data:`NOT_FLAGS` says why each remaining parameter has no flag;
``tests/test_cli_input.py`` checks that together they cover every estimator parameter.

Over 400 lines on purpose: it is the one place where the commands read what the user typed and
wrote, the table of flags included, so that every command reads them the same way.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import re
import sys
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "NOT_FLAGS",
    "TRAINING_FLAGS",
    "Flag",
    "add_data_flags",
    "add_table_arguments",
    "add_sep_flag",
    "add_training_flags",
    "build_estimator",
    "check_test_fraction",
    "class_codes",
    "estimator_class",
    "estimator_params",
    "hold_out",
    "infer_task",
    "read_csv_args",
    "read_csv_task",
    "read_npy",
    "read_table",
    "read_weighted_csv_args",
    "saved_index_columns",
    "split_target",
    "target_task",
    "test_metrics",
    "weight_column",
]

#: Separators a CSV file is sniffed for.
_SEPARATORS = ",;\t|"
#: How ``--sep`` may name a tab.
_TAB_NAMES = ("\\t", "tab", "\t")


def _note(text: str, quiet: bool) -> None:
    if not quiet:
        print(f"note: {text}", file=sys.stderr)


def _closest(name: str, names: Iterable[str]) -> str | None:
    """The name meant by ``name``: the same in another case first, else the closest spelling."""
    names = [str(n) for n in names]
    same = [n for n in names if n.lower() == name.lower()]
    if same:
        return same[0]
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    return lowered[close[0]] if close else None


def _listed(names: list[str], budget: int = 200) -> str:
    """Column names for a message: all of them, or as many as fit in ``budget`` characters and how
    many more (so a wide table keeps the error one readable sentence)."""
    shown: list[str] = []
    for name in names:
        if shown and len(", ".join([*shown, name])) > budget:
            return f"{', '.join(shown)}, … and {len(names) - len(shown)} more"
        shown.append(name)
    return ", ".join(shown)


# ---------------------------------------------------------------------- reading data
def _separator(path: Path, sep: str | None, quiet: bool) -> str:
    """``--sep`` as given (``tab`` or ``\\t`` for a tab), or the one sniffed from the first lines."""
    if sep is not None:
        return "\t" if sep in _TAB_NAMES else sep
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        sample = "".join(islice(f, 20))
    try:
        found = csv.Sniffer().sniff(sample, delimiters=_SEPARATORS).delimiter
    except csv.Error:
        return ","  # one column, or nothing the sniffer can tell: the usual comma
    header = sample.splitlines()[0] if sample else ""
    if found != "," and "," in header and found not in header:
        return ","  # commas in the header: the sniffer read decimal commas or text as the separator
    if found != ",":
        _note(f"{path} is read as separated by {found!r} (detected); pass --sep to read it otherwise.", quiet)
    return found


def read_table(path: str, sep: str | None = None, quiet: bool = False) -> pd.DataFrame:
    """Read a CSV file into a DataFrame, turning every parse problem into one sentence.

    Parameters
    ----------
    path : str
    sep : str, optional
        The field separator (``"tab"`` or ``"\\t"`` for a tab); by default it is sniffed from the
        first lines among ``, ; tab |``, with a note on stderr when it is not a comma.
    quiet : bool, default=False
        Print no note.
    """
    import numpy as np
    import pandas as pd
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path} does not exist; give the path of a CSV file.")
    if p.is_dir():
        raise DataError(f"{path} is a folder; give the path of a CSV file.")
    if p.stat().st_size == 0:
        raise DataError(f"{path} is empty; it needs a header row and at least one data row.")
    try:
        separator = _separator(p, sep, quiet)
        frame = pd.read_csv(p, encoding="utf-8", skipinitialspace=True, sep=separator)
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
    if separator != ",":
        _decimal_commas(frame, path, quiet)
    return frame


#: A number written with a decimal comma ("5,8", "-0,25"), or a whole number, and nothing else.
_DECIMAL_COMMA = r"[+-]?\d+(,\d+)?"


def _decimal_commas(frame: pd.DataFrame, path: str, quiet: bool) -> None:
    """Read text columns of decimal-comma numbers as numbers, in place, with a note.

    A file separated by something other than commas (``;`` in much of Europe) leaves the comma
    free to be the decimal mark, and pandas then reads ``5,8`` as text: a regression target
    would become classes. Only a column whose every value is such a number, at least one
    with a comma, is converted.
    """
    import pandas as pd
    converted = []
    for col in frame.columns:
        values = frame[col]
        if values.dtype != object:
            continue
        text = values.dropna().astype(str)
        if text.empty or not text.str.fullmatch(_DECIMAL_COMMA).all() or not text.str.contains(",").any():
            continue
        frame[col] = pd.to_numeric(values.astype("string").str.replace(",", ".", regex=False)).astype(float)
        converted.append(str(col))
    if converted:
        example = converted[0]
        _note(f"{path}: {len(converted)} column(s) hold numbers with a decimal comma ({_listed(converted, 80)}), "
              f"read as numbers (e.g. {example!r}).", quiet)


def read_npy(path: str, what: str, mapped: bool = True) -> np.ndarray:
    """A ``.npy`` file, memory-mapped (read in place, never loaded whole) unless ``mapped=False``."""
    import numpy as np
    if not Path(path).is_file():
        raise DataError(f"{what} {path} does not exist; give the path of a .npy file.")
    try:
        return np.load(path, mmap_mode="r" if mapped else None, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{what} {path} is not a plain NumPy array file ({exc}); save it with numpy.save.") from None


def saved_index_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that look like a DataFrame's index saved with it (``to_csv`` without ``index=False``):
    no name in the header (pandas calls them ``Unnamed: N``) and distinct whole numbers."""
    import pandas as pd
    return [str(c) for c in frame.columns if re.fullmatch(r"Unnamed: \d+", str(c))
            and pd.api.types.is_integer_dtype(frame[c]) and frame[c].is_unique]


def _index_note(frame: pd.DataFrame, column: str) -> str:
    first = ", ".join(str(v) for v in frame[column].head(3).tolist())
    return f"column {column!r} looks like a saved index ({first}, …); drop it or pass --drop {column!r}."


def _drop(frame: pd.DataFrame, drop: str | None) -> pd.DataFrame:
    """``--drop COL[,COL]``: the named columns left out, with the column meant when one is not there."""
    if not drop:
        return frame
    names = [name.strip() for name in drop.split(",") if name.strip()]
    for name in names:
        if name not in frame.columns:
            meant = _closest(name, frame.columns)
            hint = f" (did you mean {meant!r}?)" if meant else ""
            raise DataError(f"--drop {name!r} is not a column of the data{hint}; its columns are: "
                            f"{_listed([str(c) for c in frame.columns])}.")
    return frame.drop(columns=names)


def _check_finite(X: pd.DataFrame, path: str, missing: str = "error") -> None:
    """NaN and infinite values of every row, named as the file numbers them, before any split.

    With ``missing="auto"`` only infinite values are refused: an empty numeric cell is a
    missing value the estimator fills in.
    """
    from ..data import find_non_finite, non_finite_message

    found = find_non_finite(X, nan=str(missing).lower() != "auto")
    if found is not None:
        raise DataError(non_finite_message(found, name=path, row="row {row} of the data counting from 0, line {line} of the file"))


# ---------------------------------------------------------------------- the target and its task
def infer_task(y: pd.Series) -> str:
    """``"classification"`` for text, booleans and small sets of integers; ``"regression"`` otherwise."""
    import numpy as np
    import pandas as pd
    values = y.dropna()
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification"
    is_integer = np.all(np.mod(values.to_numpy(dtype=float), 1) == 0)
    n_unique = values.nunique()
    if is_integer and n_unique <= max(2, min(50, int(0.05 * len(values)) + 2)):
        return "classification"
    return "regression"


def read_csv_task(path: str, target: str, task: str = "auto", *, sep: str | None = None, drop: str | None = None,
                  quiet: bool = False, index_note: bool = True, missing: str = "auto") -> tuple[pd.DataFrame, np.ndarray, str]:
    """Read a CSV file for a command: features, target values and the task they make.

    ``task="auto"`` infers it (:func:`infer_task`); text labels of a classification are kept
    as strings; a text target cannot be regressed (one-sentence ``DataError``). Every row's
    features are checked for infinite values (and, with ``missing="error"``, NaN: empty cells)
    here, before any split, so the row named is the file's. ``sep`` and ``drop`` are ``--sep`` and ``--drop``; notes (the separator
    detected, a column that looks like a saved index unless ``index_note=False``) go to stderr
    unless ``quiet``.
    """
    frame = _drop(read_table(path, sep=sep, quiet=quiet), drop)
    return _features_and_target(frame, path, target, task, quiet=quiet, index_note=index_note, missing=missing)


def _features_and_target(frame: pd.DataFrame, path: str, target: str, task: str, *, quiet: bool,
                         index_note: bool, missing: str = "auto") -> tuple[pd.DataFrame, np.ndarray, str]:
    X, y = split_target(frame, target)
    if index_note:
        for column in saved_index_columns(X):
            _note(_index_note(X, column), quiet)
    _check_finite(X, path, missing)
    values, task = target_task(y, task, f"The target column {target!r}")
    return X, values, task


def read_csv_args(args: argparse.Namespace, *, index_note: bool = True) -> tuple[pd.DataFrame, np.ndarray, str]:
    """:func:`read_csv_task` for a command's ``data``, ``--target``, ``--task``, ``--sep``, ``--drop``, ``--quiet``
    and ``--missing``."""
    return read_csv_task(args.data, args.target, args.task, sep=getattr(args, "sep", None),
                         drop=getattr(args, "drop", None), quiet=getattr(args, "quiet", False), index_note=index_note,
                         missing=getattr(args, "missing", "auto"))


def read_weighted_csv_args(args: argparse.Namespace) -> tuple[pd.DataFrame, np.ndarray, str, np.ndarray | None]:
    """:func:`read_csv_args` with ``--weight-column``: that column taken out of the features as the
    rows' sample weights (``None`` without the flag), checked with one-sentence errors."""
    column = getattr(args, "weight_column", None)
    if column is None:
        return (*read_csv_args(args), None)
    quiet = getattr(args, "quiet", False)
    frame = _drop(read_table(args.data, sep=getattr(args, "sep", None), quiet=quiet), getattr(args, "drop", None))
    weights = weight_column(frame, column, args.target)
    X, values, task = _features_and_target(frame.drop(columns=[column]), args.data, args.target, args.task,
                                           quiet=quiet, index_note=True, missing=getattr(args, "missing", "auto"))
    return X, values, task, weights


def weight_column(frame: pd.DataFrame, column: str, target: str | None = None) -> np.ndarray:
    """The sample weights in ``frame[column]`` (``--weight-column``): numbers, finite, 0 or more, not all 0."""
    import numpy as np
    import pandas as pd

    names = [str(c) for c in frame.columns]
    if column not in frame.columns:
        meant = _closest(column, names)
        hint = f" (did you mean {meant!r}?)" if meant else ""
        raise DataError(f"--weight-column {column!r} is not a column of the data{hint}; its columns are: {_listed(names)}.")
    if column == target:
        raise DataError(f"--weight-column {column!r} is the target column; name the column that holds the rows' weights.")
    series = frame[column]
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise DataError(f"--weight-column {column!r} holds text or booleans; the weights must be numbers.")
    w = series.to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise DataError(f"--weight-column {column!r} is {w[bad[0]]} at row {bad[0]} (line {bad[0] + 2} of the file); "
                        "every weight must be a number of 0 or more.")
    if not (w > 0).any():
        raise DataError(f"--weight-column {column!r} is zero for every row; give at least one row a positive weight.")
    return w


def target_task(y: pd.Series, task: str, what: str) -> tuple[np.ndarray, str]:
    """The targets as an array and the task they make (``"auto"`` infers it, :func:`infer_task`).

    Text labels of a classification are kept as strings; a text target cannot be regressed
    (one-sentence ``DataError`` naming ``what``).
    """
    import pandas as pd
    task = task if task != "auto" else infer_task(y)
    numeric = pd.api.types.is_numeric_dtype(y)
    if task == "regression" and not numeric:
        raise DataError(f"{what} holds text; use --task classification or a numeric target.")
    return (y.astype(str).to_numpy() if task == "classification" and not numeric else y.to_numpy()), task


def _missing_target(frame: pd.DataFrame, target: str) -> DataError:
    names = [str(c) for c in frame.columns]
    meant = _closest(target, names)
    if meant:
        return DataError(f"The target column {target!r} is not in the data (did you mean {meant!r}?); "
                         f"its columns are: {_listed(names)}.")
    if len(names) == 1 and any(s in names[0] for s in _SEPARATORS[1:]):
        return DataError(f"The target column {target!r} is not in the data, which has one column {names[0][:60]!r}; "
                         "if the file uses another separator, pass it with --sep, e.g. --sep ';'.")
    return DataError(f"The target column {target!r} is not in the data; its columns are: {_listed(names)}.")


def split_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Separate the target column from the features, with clear errors."""
    import numpy as np

    from ..data import plain

    if target not in frame.columns:
        raise _missing_target(frame, target)
    y = frame[target]
    if y.isna().all():
        raise DataError(f"The target column {target!r} is empty (every value is missing).")
    if y.isna().any():
        rows = np.flatnonzero(y.isna().to_numpy())[:5].tolist()
        raise DataError(f"The target column {target!r} has {int(y.isna().sum())} missing values (rows {rows}); drop or fill them.")
    if y.nunique() < 2:
        raise DataError(f"The target column {target!r} holds one value only ({plain(y.iloc[0])!r}); there is nothing to learn.")
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
    import numpy as np
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


# ---------------------------------------------------------------------- reading the flags' text
def _number(flag: str, text: str, kind: type = float) -> Any:
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise DataError(f"{flag} {text!r} must be {what}.") from None


def _auto_or(kind: type) -> Callable[[str, str], Any]:
    return lambda flag, text: "auto" if text.lower() == "auto" else _number(flag, text, kind)


def _none_or(read: Callable[[str, str], Any]) -> Callable[[str, str], Any]:
    return lambda flag, text: None if text.lower() == "none" else read(flag, text)


def _word(flag: str, text: str) -> str:
    return text


def _named(flag: str, text: str) -> str | tuple[str, float]:
    """``relu`` or ``leaky_relu=0.1``: a name, or a name and its number (an activation's slope, an init's value)."""
    name, eq, value = text.partition("=")
    return (name.strip(), _number(flag, value)) if eq else text


def _hidden(flag: str, text: str) -> str | tuple[int, ...]:
    from ..estimators.params import hidden_from_text

    if text.lower() == "auto":
        return "auto"
    try:
        return hidden_from_text(text)
    except ConfigError:
        raise DataError(f"{flag} {text!r} must be comma-separated layer sizes such as 256,128.") from None


def _conv(flag: str, text: str) -> str | tuple[tuple[int, ...], ...]:
    if text.lower() == "auto":
        return "auto"
    blocks = [block.strip().split(":") for block in text.split(",")]
    if not all(1 <= len(b) <= 3 and all(v.strip().isdigit() for v in b) for b in blocks):
        raise DataError(f"{flag} {text!r} must be conv blocks CHANNELS[:KERNEL[:POOL]] separated by commas, "
                        "e.g. 32:3:2,64:3:2,128:3:0.")
    return tuple(tuple(int(v) for v in b) for b in blocks)


def _class_weight(flag: str, text: str) -> str | dict[str, float]:
    if "=" not in text:
        return text  # "balanced" (the estimator names the valid values otherwise)
    weights = {}
    for item in text.split(","):
        label, _, weight = item.partition("=")
        weights[label.strip()] = _number(flag, weight.strip())
    return weights


# ---------------------------------------------------------------------- the training flags
@dataclass(frozen=True)
class Flag:
    """One training flag: the estimator parameter it sets, how its text is read, and its help.

    ``read(flag, text)`` turns the text into the parameter's value (a one-sentence ``DataError``
    when it cannot); a switch (``read=None``) sets ``switch`` when given. ``default`` is the text
    of the default, as the help shows it; ``task`` marks a parameter of one estimator only.
    """

    param: str
    read: Callable[[str, str], Any] | None
    help: str
    default: str | None = None
    switch: Any = None
    task: str | None = None
    name: str | None = None
    metavar: str | None = None
    type: Callable[[str], Any] | None = None  # read by argparse, for a flag the commands read too (--seed)
    means: str = ""  # what the default means, e.g. what "auto" picks

    @property
    def shown(self) -> str:
        """The metavar ``--help`` shows: the one given, else NAME for names and N for numbers."""
        return self.metavar or ("NAME" if self.read in (_word, _named) else "N")

    @property
    def flag(self) -> str:
        """The option as typed, e.g. ``--batch-size``."""
        return self.name or "--" + self.param.replace("_", "-")

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments that holds it."""
        return self.flag[2:].replace("-", "_")

    def value(self, given: Any) -> Any:
        """The parameter's value for what argparse holds (``None``: the default)."""
        if self.read is None:
            return self.switch if given else not self.switch
        if given is None:
            given = self.default
        return self.read(self.flag, given) if isinstance(given, str) else given  # argparse read it (type)


_A, _N = "auto", "none"
#: Every estimator parameter a command-line user can set, in the order ``--help`` lists them.
TRAINING_FLAGS: tuple[Flag, ...] = (
    Flag("kind", _word, "network: auto, mlp or cnn", _A, means="a CNN for image- or signal-shaped data"),
    Flag("hidden", _hidden, "hidden layer sizes, e.g. 256,128", _A, metavar="SIZES",
         means="256,128, or 128,64 below 1,000 rows"),
    Flag("conv", _conv, "conv blocks of a CNN, CHANNELS[:KERNEL[:POOL]] separated by commas, e.g. 32:3:2,64:3:0",
         _A, metavar="BLOCKS", means="32:3:2,64:3:2,128:3:0"),
    Flag("activation", _named, "relu, tanh, sigmoid, leaky_relu (leaky_relu=SLOPE) or prelu", "relu"),
    Flag("init", _named, "weight initialisation: auto, he, xavier, zeros, constant=V or normal=STD", _A,
         means="he for the ReLU family, xavier for tanh and sigmoid"),
    Flag("batchnorm", None, "leave batch norm out", switch=False, name="--no-batchnorm"),
    Flag("dropout", _auto_or(float), "dropout probability", _A,
         means="0.2 in an MLP below 1,000 rows or 100 features, else 0"),
    Flag("loss", _word, "cross_entropy, hinge, squared_hinge, hierarchical_softmax (classes) or mse (values)", _A,
         means="cross_entropy for classes, mse for values"),
    Flag("optimizer", _word, "sgd, momentum, nesterov, adagrad, adadelta, rmsprop or adam", "adam"),
    Flag("lr", _number, "learning rate", "1e-3"),
    Flag("momentum", _number, "momentum of the momentum and nesterov optimizers", "0.9"),
    Flag("l2", _number, "L2 strength on the weights", "1e-4"),
    Flag("l1", _number, "L1 strength on the weights", "0"),
    Flag("lr_schedule", _word, "none, step, exponential, cosine, onecycle or plateau", _A,
         means="plateau for a CNN, none for an MLP"),
    Flag("batch_size", _auto_or(int), "batch size", _A, means="128, smaller on small data"),
    Flag("max_epochs", lambda f, t: _number(f, t, int), "most epochs", "200"),
    Flag("early_stopping", None, "train max-epochs epochs, with no validation rows", switch=False,
         name="--no-early-stopping"),
    Flag("patience", lambda f, t: _number(f, t, int), "early-stopping patience in epochs", "20"),
    Flag("validation_fraction", _auto_or(float), "share of the rows held out for early stopping", _A,
         means="0.2 below 1,000 rows, else 0.1"),
    Flag("class_weight", _none_or(_class_weight), "classification: balanced, or LABEL=WEIGHT,... for the loss",
         _N, task="classification", metavar="WEIGHTS"),
    Flag("output_activation", _none_or(_word), "regression: sigmoid or tanh output (targets mapped into its range)",
         _N, task="regression", metavar="NAME"),
    Flag("target_scaling", _word, "regression: auto, standard, range or none", _A, task="regression",
         means="range with --output-activation, else standard"),
    Flag("scaling", _word, "input scaling: auto, feature, global, robust or none", _A,
         means="global for images and pixel-like tables, else feature"),
    Flag("numeric_encoding", _word, "numeric table columns: auto, piecewise (plus tree-placed piecewise-linear bins) "
                                    "or none", _A, means="piecewise for tables of 1,000 training rows or more"),
    Flag("missing", _word, "empty numeric cells: auto (training median plus a missing indicator) or error", _A),
    Flag("augment", _word, "training augmentation on the device: auto, none, shift, shift=N, flip, shift+flip", _A,
         means="random shifts for images of 16 px or more"),
    Flag("grad_clip", _none_or(_number), "clip the gradient norm to this", _N),
    Flag("freeze", _none_or(_word), "with --from: features (train the new head first) or none", "features",
         metavar="NAME"),
    Flag("fine_tune", _none_or(_number), "with --from: learning-rate factor of the fine-tuning phase "
                                         "(none: stop after the head)", "0.1"),
    Flag("device", _word, "auto, cpu or cuda", _A, means="CUDA when present"),
    Flag("random_state", lambda f, t: _number(f, t, int), "random seed of the split, the weights and the batches",
         "0", name="--seed", type=int),
    Flag("bf16", None, "bfloat16 matrix products on CUDA and on CPUs with native bf16 instructions (an MLP keeps "
                       "its fast step on the CPU; ignored with a warning elsewhere)", switch=True),
    Flag("cuda_graphs", None, "on CUDA, launch every kernel from Python instead of replaying captured training steps",
         switch=False, name="--no-cuda-graphs"),
    Flag("sync_batchnorm", None, "under torchrun, batch-norm statistics over all processes", switch=True),
    Flag("threads", _auto_or(int), "intra-op threads while training", _A,
         means="1 for a small MLP (under 4 M multiply-adds a step), else every core"),
    Flag("diagnostics", None, "skip the advice after training (and its probes)", switch=False,
         name="--no-diagnostics"),
)

#: Estimator parameters with no training flag, and why.
NOT_FLAGS: dict[str, str] = {
    "callbacks": "Python objects; the commands add their own (live progress, step profiler, TensorBoard)",
    "checkpoint_dir": "fit always checkpoints into RUN_DIR/checkpoint, which --resume continues from",
    "pretrained": "fit's --from RUN_DIR names the run or model folder to transfer from",
    "report": "fit writes its run folder and report.html itself (--no-report leaves the report out)",
    "tensorboard": "fit's --tensorboard writes the events into the run folder itself",
    "mlflow": "fit's and tune's --mlflow [URI] record the run (with the run folder) or the search in MLflow",
    "verbose": "the commands show their own live progress (--quiet prints nothing)",
}

#: Flags (by parameter) that only transfer learning (``--from``) uses.
TRANSFER = ("freeze", "fine_tune")
#: ``--test-fraction``: the one flag of the group that is no estimator parameter.
_TEST_FRACTION = "test_fraction"


def add_training_flags(p: argparse.ArgumentParser, kind: str = "auto", leave_out: Collection[str] = ()) -> None:
    """The network and training flags of a command that trains (read by :func:`estimator_params`).

    Parameters
    ----------
    p : argparse.ArgumentParser
    kind : str, default="auto"
        The default of ``--kind`` (``"mlp"`` for the quick demo).
    leave_out : collection of str
        Parameters (and ``"test_fraction"``) the command does not use, so ``--help`` does not list them.
    """
    g = p.add_argument_group("network and training (defaults: the notes' TL;DR)")
    for flag in TRAINING_FLAGS:
        if flag.param in leave_out:
            continue
        if flag.read is None:
            g.add_argument(flag.flag, dest=flag.dest, action="store_true", help=flag.help)
            continue
        default = kind if flag.param == "kind" else flag.default
        if flag.type is not None:
            default = flag.type(default)
        means = f": {flag.means}" if flag.means and str(default) == flag.default else ""
        g.add_argument(flag.flag, dest=flag.dest, default=None if flag.task else default, metavar=flag.shown,
                       type=flag.type, help=f"{flag.help} (default {default}{means})")
    if _TEST_FRACTION not in leave_out:
        g.add_argument("--test-fraction", type=float, default=0.2, help="rows held out for the test metrics (default 0.2)")


def add_sep_flag(p: argparse.ArgumentParser) -> None:
    """``--sep``, for a command that reads a CSV file."""
    p.add_argument("--sep", default=None, metavar="SEP",
                   help="field separator of the CSV file, e.g. ';' or tab (default: detected from the first lines, "
                        "with a note when it is not a comma)")


def add_table_arguments(p: argparse.ArgumentParser) -> None:
    """The CSV file, its target column and how to read it: what every command on a table takes."""
    p.add_argument("data", help="CSV file with a header row")
    p.add_argument("--target", required=True, help="the column to predict")
    add_data_flags(p)


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """``--task``, ``--sep`` and ``--drop``, for a command that reads a CSV file with a target column."""
    p.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                   help="what to learn (default auto: classification for text, booleans and few distinct whole "
                        "numbers, regression otherwise)")
    add_sep_flag(p)
    p.add_argument("--drop", default=None, metavar="COL[,COL]", help="columns to leave out, e.g. an id or a saved index")


def estimator_params(args: argparse.Namespace) -> dict[str, Any]:
    """Estimator parameters from the training flags in ``args`` (:func:`add_training_flags`).

    Every flag the command has gives its value (the default when not given), except the flags of
    one task (``--class-weight``; ``--output-activation``, ``--target-scaling``): those appear only
    when given, and :func:`build_estimator` refuses them for the other task.
    """
    params: dict[str, Any] = {}
    for flag in TRAINING_FLAGS:
        if not hasattr(args, flag.dest):
            continue  # left out of this command
        given = getattr(args, flag.dest)
        if flag.task and given is None:
            continue
        params[flag.param] = flag.value(given)
    return params


def build_estimator(task: str, params: dict[str, Any]) -> Any:
    """The estimator for ``task`` with ``params``; a flag of the other task is one sentence, not a TypeError."""
    from ..estimators import NeuralNetClassifier, NeuralNetRegressor

    for flag in TRAINING_FLAGS:
        if flag.task and flag.task != task and flag.param in params:
            raise ConfigError(f"{flag.flag} is for a {flag.task}, but this target makes a {task}; drop it, "
                              f"or pass --task {flag.task} if the target holds classes.")
    return (NeuralNetClassifier if task == "classification" else NeuralNetRegressor)(**params)


def estimator_class(task: str) -> Callable[..., Any]:
    """What builds the estimator for ``task``: ``estimator_class(task)(**params)`` (:func:`build_estimator`)."""
    return lambda **params: build_estimator(task, params)
