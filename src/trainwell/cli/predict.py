"""``trainwell predict RUN_DIR data``: predictions of a trained run, as CSV on stdout.

stdout holds the predictions only (CSV, or JSON lines with ``--json``); what the command
noticed about the input (columns it ignored, categories the model never saw) is one note
each on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from .common import add_sep_flag, read_npy, read_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["add_parser", "cmd_predict", "unseen_categories"]

#: Unseen values quoted in the note, per column.
_EXAMPLES = 3


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict a CSV file (its target column and other extra columns ignored) or a ``.npy`` array."""
    if args.data.endswith(".npy"):
        X = read_npy(args.data, "the data file")  # memory-mapped: predicted chunk by chunk
        _write_predictions(_model(args, len(X)), X, args.proba, args.json)
        return 0
    frame = read_table(args.data, sep=args.sep)
    est = _model(args, len(frame))
    names = getattr(est, "feature_names_in_", None)
    if names is None:  # trained on an array: the columns are taken in order, by position
        X = frame.to_numpy()
    else:
        known = {str(c) for c in names}
        extra = [c for c in frame.columns if str(c) not in known]
        if extra:
            shown = ", ".join(map(str, extra))
            print(f"note: ignored {len(extra)} column{'s' if len(extra) != 1 else ''} the model was not trained on: "
                  f"{shown}.", file=sys.stderr)
        X = frame.drop(columns=extra)
        filled = filled_cells(est, X)
        if filled:
            print(f"note: filled {sum(filled.values())} empty numeric cell(s) with the training medians: "
                  + ", ".join(f"{col} {n}" for col, n in filled.items()) + ".", file=sys.stderr)
        unseen = unseen_categories(est, X)
        if unseen:
            parts = [f"{col!r} ({n} row{'s' if n != 1 else ''}, e.g. {', '.join(map(repr, examples))})"
                     for col, (n, examples) in unseen.items()]
            print(f"note: categories the model never saw in training, encoded as all zeros, in {'; '.join(parts)}.",
                  file=sys.stderr)
    _write_predictions(est, X, args.proba, args.json)
    return 0


def _model(args: argparse.Namespace, n_rows: int) -> Any:
    """What predicts: an MLP on the CPU predicts with NumPy (no PyTorch or scikit-learn to import,
    the bulk of a short command's time; see trainwell.predictor), anything else as loaded."""
    # more rows than CHUNK_ROWS (a large .npy): the estimator predicts them chunk by chunk
    from ..data.mapped import CHUNK_ROWS

    if args.device in ("auto", "cpu") and n_rows <= CHUNK_ROWS:
        from ..predictor import NumpyPredictor

        predictor = NumpyPredictor.from_folder(args.run_dir)
        if predictor is not None:
            return predictor
    from ..persist import load

    return load(args.run_dir, device=args.device)


def filled_cells(est: Any, X: pd.DataFrame) -> dict[str, int]:
    """Per numeric column, the missing values the model fills with its training median (``missing="auto"``).

    Empty when the model refuses them (``missing="error"``): predict then says so itself.
    """
    transform = getattr(est, "transform_", None)
    if getattr(transform, "fill", None) is None:
        return {}
    categories = transform.categories or {}
    return {str(col): int(n) for col, n in X.isna().sum().items() if n and str(col) not in categories}


def unseen_categories(est: Any, X: pd.DataFrame) -> dict[str, tuple[int, list[str]]]:
    """Per categorical column, the rows whose category the model never saw, and a few of them.

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor
        Its ``transform_.categories`` holds the categories seen in training.
    X : DataFrame
        The rows to predict.

    Returns
    -------
    dict
        ``{column: (rows, [up to 3 unseen values])}`` for the columns that have any.
    """
    import numpy as np
    import pandas as pd
    categories = getattr(getattr(est, "transform_", None), "categories", None) or {}
    found: dict[str, tuple[int, list[str]]] = {}
    columns = {str(c): c for c in X.columns}
    for col, cats in categories.items():
        if col not in columns:
            continue  # a missing column is refused by predict itself, with its own sentence
        series = X[columns[col]]
        # as the encoder reads a value (FeatureTransform._encode): missing is a category of its own
        values = series.astype(object).where(series.notna(), "<missing>").astype(str).to_numpy()
        new = ~np.isin(values, np.asarray(cats, dtype=str))
        if new.any():
            found[col] = (int(new.sum()), pd.unique(values[new])[:_EXAMPLES].tolist())
    return found


def _write_predictions(est: Any, X: Any, proba: bool, as_json: bool = False) -> None:
    """Predictions (and with ``proba`` the probability of each class) on stdout, as CSV or JSON lines."""
    import numpy as np
    import pandas as pd
    predictions = est.predict(X)
    probabilities = est.predict_proba(X) if proba and hasattr(est, "classes_") else None
    classes = [str(c) for c in getattr(est, "classes_", [])]
    if as_json:
        values = np.asarray(predictions).tolist()  # numpy scalars become JSON numbers and strings
        for i, value in enumerate(values):
            row: dict[str, Any] = {"prediction": value}
            if probabilities is not None:
                row["proba"] = dict(zip(classes, probabilities[i].tolist(), strict=True))
            sys.stdout.write(json.dumps(row) + "\n")
        return
    columns: dict[str, Any] = {"prediction": predictions}
    if probabilities is not None:
        # built in one go: adding hundreds of columns one by one makes pandas warn (fragmented frame)
        columns.update({f"proba_{c}": probabilities[:, i] for i, c in enumerate(classes)})
    pd.DataFrame(columns).to_csv(sys.stdout, index=False)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell predict`` on the CLI's subparsers."""
    p = subparsers.add_parser("predict", help="predict a CSV (or .npy) file with a trained run; writes CSV to stdout")
    p.add_argument("run_dir", help="run folder from 'trainwell fit' (or a model folder)")
    p.add_argument("data", help="CSV file with the training features (a target column is ignored), or a .npy array")
    p.add_argument("--proba", action="store_true", help="add a probability column per class")
    add_sep_flag(p)
    p.add_argument("--json", action="store_true",
                   help='write JSON lines instead of CSV: one {"prediction": ...} object per row '
                        '(with --proba also "proba": {class: probability})')
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_predict)
