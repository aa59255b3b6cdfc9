"""``trainwell predict RUN_DIR data``: predictions of a trained run, as CSV on stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import pandas as pd

from .common import read_npy, read_table

__all__ = ["add_parser", "cmd_predict"]


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict a CSV file (its target column and other extra columns ignored) or a ``.npy`` array."""
    from ..persist import load

    est = load(args.run_dir, device=args.device)
    if args.data.endswith(".npy"):
        X = read_npy(args.data, "the data file")  # memory-mapped: predicted chunk by chunk
        _write_predictions(est, X, args.proba)
        return 0
    frame = read_table(args.data)
    if est.feature_names_in_ is not None if hasattr(est, "feature_names_in_") else False:
        extra = [c for c in frame.columns if c not in set(est.feature_names_in_)]
        frame = frame.drop(columns=extra)
        X = frame
    else:
        X = frame.to_numpy()
    _write_predictions(est, X, args.proba)
    return 0


def _write_predictions(est: Any, X: Any, proba: bool) -> None:
    """Predictions (and with ``proba`` one probability column per class) as CSV on stdout."""
    result = pd.DataFrame({"prediction": est.predict(X)})
    if proba and hasattr(est, "classes_"):
        probabilities = est.predict_proba(X)
        for i, c in enumerate(est.classes_):
            result[f"proba_{c}"] = probabilities[:, i]
    result.to_csv(sys.stdout, index=False)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell predict`` on the CLI's subparsers."""
    p = subparsers.add_parser("predict", help="predict a CSV (or .npy) file with a trained run; writes CSV to stdout")
    p.add_argument("run_dir", help="run folder from 'trainwell fit' (or a model folder)")
    p.add_argument("data", help="CSV file with the training features (a target column is ignored), or a .npy array")
    p.add_argument("--proba", action="store_true", help="add a probability column per class")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_predict)
