"""``trainwell compare``: is model A really better than model B on this CSV file?

::

    trainwell compare data.csv --target label \\
        --model "net=trainwell:hidden=256,128;lr=0.001" --model logistic --out runs/compare

A model is ``NAME=KIND[:PARAMS]`` (``NAME=`` is optional and defaults to ``KIND``):

- ``KIND`` is ``trainwell`` (a :class:`~trainwell.NeuralNetClassifier` or
  :class:`~trainwell.NeuralNetRegressor`, by task), one of the short names in :data:`SHORT_NAMES`
  (``logistic``, ``ridge``, ``forest``, ``boosting``, ``knn``, ``mlp``, ``dummy``), or the dotted
  path of any scikit-learn estimator class (``sklearn.svm.SVC``).
- ``PARAMS`` are ``key=value`` pairs separated by ``;`` (quote the whole spec in the shell).
  Values are Python literals (``256,128`` is a tuple, ``0.001`` a float); ``true``/``false``/
  ``none`` and bare words (``relu``) are understood.

Models other than trainwell's get the same preparation trainwell does inside its estimators
(numeric columns standardised, text columns one-hot encoded, missing values imputed), so the
comparison is between models, not between preprocessing.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import sys
import warnings
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError

__all__ = ["SHORT_NAMES", "add_parser", "build_model", "parse_model_spec"]

# Short names: (classifier class path, regressor class path, fixed parameters).
SHORT_NAMES: dict[str, tuple[str | None, str | None, dict[str, Any]]] = {
    "trainwell": ("trainwell.NeuralNetClassifier", "trainwell.NeuralNetRegressor", {}),
    "logistic": ("sklearn.linear_model.LogisticRegression", None, {"max_iter": 1000}),
    "ridge": ("sklearn.linear_model.RidgeClassifier", "sklearn.linear_model.Ridge", {}),
    "forest": ("sklearn.ensemble.RandomForestClassifier", "sklearn.ensemble.RandomForestRegressor", {}),
    "boosting": ("sklearn.ensemble.HistGradientBoostingClassifier", "sklearn.ensemble.HistGradientBoostingRegressor", {}),
    "knn": ("sklearn.neighbors.KNeighborsClassifier", "sklearn.neighbors.KNeighborsRegressor", {}),
    "mlp": ("sklearn.neural_network.MLPClassifier", "sklearn.neural_network.MLPRegressor", {"max_iter": 500}),
    "dummy": ("sklearn.dummy.DummyClassifier", "sklearn.dummy.DummyRegressor", {}),
}


# ---------------------------------------------------------------------- model specs
def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()  # a bare word such as relu or adam


def parse_model_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
    """Split ``NAME=KIND[:PARAMS]`` into ``(name, kind, params)``.

    Parameters
    ----------
    spec : str
        For example ``"net=trainwell:hidden=256,128;lr=0.001"``, ``"logistic"`` or
        ``"svc=sklearn.svm.SVC:C=10"``.

    Returns
    -------
    tuple of (str, str, dict)
    """
    text = spec.strip()
    name = None
    head = text.split("=", 1)[0]
    if "=" in text and ":" not in head:
        name, text = head.strip(), text.split("=", 1)[1].strip()
    kind, _, param_text = text.partition(":")
    kind = kind.strip()
    if not kind or (name is not None and not name):
        raise ConfigError(f"--model {spec!r} must look like NAME=KIND[:key=value;...], e.g. net=trainwell:hidden=256,128 or logistic.")
    params: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in param_text.split(";"))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--model {spec!r}: {item!r} is not key=value; separate parameters with ';', e.g. hidden=64;lr=0.01.")
        params[key.strip()] = _parse_value(value)
    return name or kind, kind, params


def _import_class(path: str) -> type:
    module_name, _, attr = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(
            f"Unknown model kind {path!r}; use trainwell, one of {', '.join(k for k in SHORT_NAMES if k != 'trainwell')}, "
            "or the dotted path of an estimator class such as sklearn.svm.SVC."
        ) from None
    if not isinstance(cls, type) or not hasattr(cls, "fit"):
        raise ConfigError(f"{path!r} is not an estimator class (it has no fit method).")
    return cls


def _preprocessing(X: Any) -> Any:
    """Standardise numeric columns and one-hot encode the rest, as trainwell's estimators do inside."""
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    return ColumnTransformer(
        [
            ("numeric", numeric, make_column_selector(dtype_include="number")),
            ("categorical", categorical, make_column_selector(dtype_exclude="number")),
        ]
    )


def build_model(spec: str, task: str, X: Any = None) -> tuple[str, Any]:
    """Build the named estimator a ``--model`` spec describes, for ``task``.

    Parameters
    ----------
    spec : str
        ``NAME=KIND[:PARAMS]`` (see the module docstring).
    task : {"classification", "regression"}
        Picks the classifier or regressor of a short name.
    X : DataFrame, optional
        When given, non-trainwell models are wrapped in a pipeline that prepares its columns.

    Returns
    -------
    (str, estimator)
    """
    from sklearn.pipeline import make_pipeline

    name, kind, params = parse_model_spec(spec)
    if kind in SHORT_NAMES:
        clf_path, reg_path, fixed = SHORT_NAMES[kind]
        path = clf_path if task == "classification" else reg_path
        if path is None:
            raise ConfigError(f"{kind!r} is a classifier only; for regression use ridge, forest, boosting, knn, mlp or trainwell.")
        cls = _import_class(path)
        params = {**fixed, **params}
    else:
        cls = _import_class(kind)
    if "hidden" in params and isinstance(params["hidden"], int):
        params["hidden"] = (params["hidden"],)
    valid = cls().get_params(deep=False) if hasattr(cls, "get_params") else {}
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"--model {spec!r}: {cls.__name__} has no parameter {', '.join(unknown)}; valid ones are {', '.join(sorted(valid))}.")
    estimator = cls(**params)
    if not cls.__module__.startswith("trainwell") and X is not None and hasattr(X, "columns"):
        estimator = make_pipeline(_preprocessing(X), estimator)
    return name, estimator


# ---------------------------------------------------------------------- the command
def cmd_compare(args: argparse.Namespace) -> int:
    """Run ``trainwell compare``; prints the verdict to stdout. Returns the exit status."""

    # Imported here, not at the top: trainwell.cli imports this module to register the command.
    from ..cli import read_csv_task
    from .evaluate import compare
    from .plot import plot_scores

    X, y_values, task = read_csv_task(args.data, args.target, args.task)
    specs = args.model or ["trainwell", "logistic" if task == "classification" else "ridge"]
    models: dict[str, Any] = {}
    for spec in specs:
        name, est = build_model(spec, task, X)
        if name in models:
            raise ConfigError(f"Two models are called {name!r}; name them, e.g. --model a=trainwell --model b=trainwell:lr=0.01.")
        models[name] = est
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out} is a file; give a folder for report.html and scores.csv.")
    if args.single and (args.seeds is not None):
        raise ConfigError("--single trains once on one split; leave out --seeds (or drop --single for repeated runs).")
    if args.folds < 2 or args.repeats < 1:
        raise ConfigError(f"--folds {args.folds} --repeats {args.repeats}: use at least 2 folds and 1 repeat.")
    if args.single:
        cv = None
    elif args.seeds is not None:
        cv = args.seeds
    else:
        from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

        splitter = RepeatedStratifiedKFold if task == "classification" else RepeatedKFold
        cv = splitter(n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed)

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
    p.add_argument("--task", choices=("auto", "classification", "regression"), default="auto")
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
