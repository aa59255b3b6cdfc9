"""The models of ``trainwell compare``, named on the command line by ``--model`` specs.

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

import ast
import importlib
from typing import Any

from ..exceptions import ConfigError

__all__ = ["SHORT_NAMES", "build_model", "parse_model_spec"]

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
