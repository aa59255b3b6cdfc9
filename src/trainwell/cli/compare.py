"""``trainwell compare``: is model A really better than model B on this CSV file?

::

    trainwell compare data.csv --target label \\
        --model "net=trainwell:hidden=256,128;lr=0.001" --model logistic --out runs/compare

How a ``--model`` spec names a model is in :mod:`.model_spec`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from .common import add_data_flags, read_csv_args
from .model_spec import SHORT_NAMES, build_model, parse_model_spec

__all__ = ["SHORT_NAMES", "add_parser", "build_model", "cmd_compare", "parse_model_spec"]


def _models(specs: list[str], task: str, X: Any) -> dict[str, Any]:
    """The estimators the ``--model`` specs name, by name; two of one name are refused."""
    models: dict[str, Any] = {}
    for spec in specs:
        name, est = build_model(spec, task, X)
        if name in models:
            raise ConfigError(f"Two models are called {name!r}; name them, e.g. --model a=trainwell --model b=trainwell:lr=0.01.")
        models[name] = est
    return models


def _cv(args: argparse.Namespace, task: str) -> Any:
    """The ``cv`` of :func:`trainwell.compare`: ``None`` (one split), a number of seeds, or repeated folds."""
    if args.single and (args.seeds is not None):
        raise ConfigError("--single trains once on one split; leave out --seeds (or drop --single for repeated runs).")
    if args.folds < 2 or args.repeats < 1:
        raise ConfigError(f"--folds {args.folds} --repeats {args.repeats}: use at least 2 folds and 1 repeat.")
    if args.single:
        return None
    if args.seeds is not None:
        return args.seeds
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    splitter = RepeatedStratifiedKFold if task == "classification" else RepeatedKFold
    return splitter(n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed)


def cmd_compare(args: argparse.Namespace) -> int:
    """Run ``trainwell compare``; prints the verdict to stdout. Returns the exit status."""
    from ..compare.evaluate import compare
    from ..compare.plot import plot_scores

    X, y_values, task = read_csv_args(args)
    models = _models(args.model or ["trainwell", "logistic" if task == "classification" else "ridge"], task, X)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out} is a file; give a folder for report.html and scores.csv.")
    cv = _cv(args, task)

    def say(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    say(f"comparing {', '.join(models)} on {args.data} ({len(y_values)} rows, {task})")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compare(models, X, y_values, cv=cv, scoring=args.scoring, single=args.single, test_size=args.test_fraction,
                         random_state=args.seed, alpha=args.alpha, progress=say)
    for message in dict.fromkeys(str(w.message) for w in caught):
        say(f"warning: {message}")
    print(result)
    if args.scores:
        result.scores.to_csv(args.scores)
        say(f"per-fold scores: {args.scores}")
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot_scores(result).savefig(args.plot, dpi=120)
        say(f"plot: {args.plot}")
    if args.out:
        out = Path(args.out)
        report = result.report(out, title=f"trainwell comparison: {' vs '.join(result.names)} on {Path(args.data).name}")
        result.scores.to_csv(out / "scores.csv")
        say(f"report: {report}")
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``trainwell compare`` on an argparse sub-parser collection."""
    p = subparsers.add_parser(
        "compare",
        help="is model A really better than model B? repeated folds + Wilcoxon, or one split + McNemar",
        description=(
            "Train every model on the same folds and test the differences (Wilcoxon signed-rank test, Holm-corrected for "
            "more than two models), or with --single train once and compare predictions (McNemar's test)."
        ),
        epilog=(
            "MODEL is NAME=KIND[:key=value;...]; KIND is trainwell, logistic, ridge, forest, boosting, knn, mlp, dummy or a "
            "dotted class path such as sklearn.svm.SVC. Example: --model \"net=trainwell:hidden=256,128;lr=0.001\" --model logistic. "
            "Default: trainwell against logistic (classification) or ridge (regression)."
        ),
    )
    p.add_argument("data", help="CSV file with a header row")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--model", action="append", metavar="MODEL", help="a model to compare (give two or more; see below)")
    add_data_flags(p)
    p.add_argument("--folds", type=int, default=5, help="folds per repeat (default 5)")
    p.add_argument("--repeats", type=int, default=2, help="repeats of the K-fold split (default 2: 10 paired folds)")
    p.add_argument("--seeds", type=int, default=None, help="instead of folds: K random train/test splits, seed i for split i")
    p.add_argument("--single", action="store_true", help="train each model once on one split; McNemar's test (classification)")
    p.add_argument("--test-fraction", type=float, default=0.25, help="test rows for --single and --seeds (default 0.25)")
    p.add_argument("--scoring", default=None, help="scikit-learn scorer name (default accuracy, or r2 for regression)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seeds the splits and the models (default 0)")
    p.add_argument("--scores", default=None, metavar="CSV", help="write the per-fold scores to this CSV file")
    p.add_argument("--plot", default=None, metavar="PNG", help="write the paired per-fold scores plot to this file")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write DIR/report.html (verdict, tests, paired per-fold plot; self-contained) and DIR/scores.csv")
    p.add_argument("--quiet", action="store_true", help="print only the verdict")
    p.set_defaults(func=cmd_compare)
