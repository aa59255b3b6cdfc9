"""Run two or more estimators on the same folds and test their differences.

Any scikit-learn estimator works (trainwell's networks, pipelines, anything with ``fit`` and
``get_params``): each fold clones every model, fits it on the same training rows, and scores
it on the same test rows, so the scores pair up fold by fold. scikit-learn does the splitting
(``RepeatedStratifiedKFold`` by default), the cloning and the scoring; :mod:`.stats` does the
tests.

Over 400 lines on purpose: the fold loop, the confirmation on fresh seeds and the result with
its verdict are one procedure whose pieces share the fold bookkeeping; split, they would pass
it around.
"""

from __future__ import annotations

import itertools
import numbers
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.metrics import get_scorer
from sklearn.model_selection import (
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedShuffleSplit,
    check_cv,
    train_test_split,
)
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples

from ..exceptions import ConfigError, DataError
from .stats import McNemarResult, WilcoxonResult, holm, mcnemar, wilcoxon

__all__ = ["CompareResult", "compare", "confirm"]

PairTest = WilcoxonResult | McNemarResult


@dataclass(frozen=True, eq=False)
class CompareResult:
    """What :func:`compare` found; ``str(result)`` is the table and the verdict.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per fold (or seed; one row in single mode), one column per model.
    fit_seconds : pandas.DataFrame
        Training time of each model on each fold, same shape as ``scores``.
    tests : list of WilcoxonResult or McNemarResult
        One test per pair of models, Holm-adjusted when there are more than two models.
    metric : str
        Name of the score (higher is better, scikit-learn's convention).
    design : str
        How the data was split, in words.
    method : {"wilcoxon", "mcnemar"}
        Which test compared the models.
    alpha : float
        Significance level of the verdicts.
    notes : list of str
        Caveats that apply to the whole comparison.
    test_train_ratio : float or None
        ``n_test / n_train`` of the splits (for the corrected interval).
    predictions : pandas.DataFrame or None
        Single mode only: ``y_true`` and each model's predictions on the test rows.
    """

    scores: pd.DataFrame
    fit_seconds: pd.DataFrame
    tests: list[PairTest]
    metric: str
    design: str
    method: Literal["wilcoxon", "mcnemar"]
    alpha: float = 0.05
    notes: list[str] = field(default_factory=list)
    test_train_ratio: float | None = None
    predictions: pd.DataFrame | None = None

    @property
    def names(self) -> list[str]:
        """Model names, in the order given."""
        return [str(c) for c in self.scores.columns]

    @property
    def summary(self) -> pd.DataFrame:
        """Mean, standard deviation, minimum and maximum score and mean fit time per model, best first."""
        table = pd.DataFrame(
            {
                "mean": self.scores.mean(),
                "std": self.scores.std(ddof=1) if len(self.scores) > 1 else np.nan,
                "min": self.scores.min(),
                "max": self.scores.max(),
                "fit_seconds": self.fit_seconds.mean(),
            }
        )
        table.index.name = "model"
        return table.sort_values("mean", ascending=False, kind="stable")

    @property
    def best(self) -> str:
        """The model with the best mean score (not necessarily *significantly* best)."""
        return str(self.summary.index[0])

    @property
    def winner(self) -> str | None:
        """The best model if it is significantly better than every other one, else ``None``."""
        best = self.best
        against = [t for t in self.tests if best in t.names]
        if all(t.significant and t.better == best for t in against):
            return best
        return None

    @property
    def warnings(self) -> list[str]:
        """Every distinct warning of the pairwise tests, then the notes on the whole comparison."""
        seen = dict.fromkeys(w for t in self.tests for w in t.warnings)
        return [*seen, *self.notes]

    def test(self, a: str, b: str) -> PairTest:
        """The test between models ``a`` and ``b`` (in either order)."""
        for t in self.tests:
            if set(t.names) == {a, b} and a != b:
                return t
        raise ConfigError(f"There is no test between {a!r} and {b!r}; the models are {', '.join(map(repr, self.names))}.")

    @property
    def verdict(self) -> str:
        """The answer in plain words: one sentence per pair, with a headline for three or more models."""
        if len(self.tests) == 1:
            return self.tests[0].verdict
        best = self.best
        others = [t for t in self.tests if best in t.names]
        unclear = [t.names[1] if t.names[0] == best else t.names[0] for t in others if not (t.significant and t.better == best)]
        if not unclear:
            head = f"{best} is the best of {len(self.names)} models: better than each of the others after Holm's correction."
        else:
            head = (
                f"{best} has the best mean {self.metric}, but it is not shown to be better than "
                f"{_either(unclear)} after Holm's correction."
            )
        ordered = sorted(self.tests, key=lambda t: (best not in t.names, t.p))
        return "\n".join([head, *(t.verdict for t in ordered)])

    def to_html(self, title: str | None = None) -> str:
        """The comparison as one self-contained HTML page (see :func:`report`)."""
        from .report import render_html

        return render_html(self, title)

    def _repr_html_(self) -> str:
        """Jupyter's view: each model's mean, the verdict, the warnings and the paired per-fold plot."""
        from ..report.notebook import SMALL_DPI, compare_html
        from ..report.plots import to_png
        from .plot import plot_scores

        return compare_html(self, to_png(plot_scores(self), dpi=SMALL_DPI))

    def report(self, path: str | Path, title: str | None = None) -> Path:
        """Write the comparison's HTML report and return its path.

        The page holds the verdict, the per-model mean and standard deviation, every pair's
        test with its warnings, the per-fold scores and the paired per-fold plot (a line joins
        the models' scores on the same fold), embedded as PNG: no script, no external file.

        Parameters
        ----------
        path : str or Path
            A file ending in ``.html``, or a folder (created if needed) for ``report.html``.
        title : str, optional
            The page's heading; by default the model names.

        Returns
        -------
        Path
            The file written (atomically).
        """
        from .report import write_report

        return write_report(self, path, title)

    def __str__(self) -> str:
        lines = [f"Compared {len(self.names)} models on {self.design}; {self.metric}, higher is better:"]
        table = self.summary.rename_axis(None).to_string(float_format=lambda v: f"{v:.4f}")
        lines += ["  " + row for row in table.splitlines()]
        lines.append(self.verdict)
        lines += [f"Note: {w}" for w in self.warnings]
        return "\n".join(lines)


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# ---------------------------------------------------------------------- checks
def _check_models(models: Mapping[str, Any]) -> bool:
    """Validate the models; return True for classifiers, False for regressors."""
    if not isinstance(models, Mapping):
        raise ConfigError(f"models must be a dict mapping names to estimators, e.g. {{'net': NeuralNetClassifier(), 'logistic': LogisticRegression()}}; got {type(models).__name__}.")
    if len(models) < 2:
        raise ConfigError(f"compare needs at least 2 models; got {len(models)}.")
    for name, est in models.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Model name {name!r} must be a non-empty string.")
        if not (hasattr(est, "fit") and hasattr(est, "get_params")):
            raise ConfigError(f"Model {name!r} ({type(est).__name__}) is not a scikit-learn estimator: it needs fit() and get_params().")
    kinds = {name: is_classifier(est) for name, est in models.items()}
    if len(set(kinds.values())) > 1:
        clf = [n for n, c in kinds.items() if c]
        reg = [n for n, c in kinds.items() if not c]
        raise ConfigError(f"The models mix classifiers ({', '.join(clf)}) and regressors ({', '.join(reg)}); compare models for the same task.")
    return next(iter(kinds.values()))


def _check_data(X: Any, y: Any) -> int:
    if X is None or y is None:
        raise DataError("X and y are required; pass the features and the target.")
    n, n_y = _num_samples(X), _num_samples(y)
    if n != n_y:
        raise DataError(f"X has {n} rows but y has {n_y} values; give one target value per row.")
    return n


def _reseed(model: Any, seed: int) -> None:
    """Give every ``random_state`` parameter (also inside pipelines) the same seed.

    Each fold gets its own seed, shared by all models on that fold, so the scores include the
    variation from initialisation and shuffling, not one lucky seed.
    """
    keys = [k for k in model.get_params(deep=True) if k == "random_state" or k.endswith("__random_state")]
    if keys:
        model.set_params(**dict.fromkeys(keys, seed))


def _scorer(scoring: Any, classifier: bool) -> tuple[Callable[..., float], str]:
    if scoring is None:
        scoring = "accuracy" if classifier else "r2"
    if isinstance(scoring, str):
        try:
            return get_scorer(scoring), scoring
        except ValueError:
            raise ConfigError(
                f"Unknown scoring {scoring!r}; use a scikit-learn scorer name such as 'accuracy', 'balanced_accuracy', 'f1_macro', 'r2' or 'neg_mean_absolute_error'."
            ) from None
    if callable(scoring):
        return scoring, getattr(scoring, "__name__", "score")
    raise ConfigError(f"scoring={scoring!r} must be a scorer name or a callable scorer(estimator, X, y).")


def _describe(splitter: Any, n: int) -> str:
    """The splitting scheme in words, for the verdict's first line."""
    name = type(splitter).__name__
    strat = "stratified " if "Stratified" in name else ""
    if isinstance(splitter, RepeatedStratifiedKFold | RepeatedKFold):
        return f"{n} folds ({strat}{splitter.cvargs['n_splits']}-fold cross-validation repeated {splitter.n_repeats} times)"
    if name in ("KFold", "StratifiedKFold", "GroupKFold", "StratifiedGroupKFold"):
        return f"{n} folds ({name})"
    return f"{n} {'split' if n == 1 else 'splits'} ({name})"


def _splits(cv: Any, X: Any, y: Any, groups: Any, classifier: bool, test_size: float, random_state: int) -> tuple[list, str, str]:
    """The train/test index pairs, a description of them, and what one pair is called."""
    unit = "fold"
    if cv is None:
        splitter = (RepeatedStratifiedKFold if classifier else RepeatedKFold)(n_splits=5, n_repeats=2, random_state=random_state)
        design = None
    elif isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        if cv < 2:
            raise ConfigError(f"cv={cv} seeds is too few; a paired test needs at least 2 (10 or more is better).")
        # K seeds: K random train/test splits; seed i also seeds the models on split i.
        splitter = (StratifiedShuffleSplit if classifier else ShuffleSplit)(n_splits=int(cv), test_size=test_size, random_state=random_state)
        design = f"{cv} seeds (each a random {1 - test_size:.0%}/{test_size:.0%} {'stratified ' if classifier else ''}train/test split)"
        unit = "seed"
    else:
        splitter = check_cv(cv, y, classifier=classifier)
        design = None
    try:
        splits = list(splitter.split(X, y, groups))
    except ValueError as exc:
        raise DataError(f"The data cannot be split this way ({str(exc).rstrip('.')}); use fewer folds or more rows per class.") from None
    if design is None:
        design = _describe(splitter, len(splits))
    if len(splits) < 2:
        raise ConfigError(f"cv gives {len(splits)} split; a paired test needs at least 2 (for one split use single=True).")
    return splits, design, unit


# ---------------------------------------------------------------------- the comparison
def _fit_timed(model: Any, X: Any, y: Any, name: str, where: str) -> float:
    t0 = time.perf_counter()
    try:
        model.fit(X, y)
    except Exception as exc:
        if hasattr(exc, "add_note"):  # Python 3.11+: say which model failed, keep the original error
            exc.add_note(f"(while fitting model {name!r} on {where})")
        raise
    return time.perf_counter() - t0


def compare(
    models: Mapping[str, Any],
    X: Any,
    y: Any,
    *,
    cv: Any = None,
    scoring: str | Callable[..., float] | None = None,
    single: bool = False,
    test_size: float = 0.25,
    groups: Any = None,
    random_state: int = 0,
    vary_seeds: bool = True,
    alpha: float = 0.05,
    progress: Callable[[str], None] | None = None,
) -> CompareResult:
    """Is one model really better than another? Train each on the same folds and test the difference.

    Parameters
    ----------
    models : dict of str to estimator
        Two or more named scikit-learn estimators (trainwell networks, pipelines, ...), all
        classifiers or all regressors. They are cloned; the originals are not fitted.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Features.
    y : array-like of shape (n_samples,)
        Target.
    cv : None, int, cross-validation splitter or iterable of (train, test), default None
        ``None``: 5-fold cross-validation repeated twice (10 paired folds; stratified for
        classifiers). An int ``K``: ``K`` seeds, each a random train/test split of
        ``test_size`` (unlike scikit-learn's ``cv=int``, which means K-fold). Anything else
        is passed to ``sklearn.model_selection.check_cv`` (``KFold(10)``, ``GroupKFold``, ...).
    scoring : str or callable, optional
        A scikit-learn scorer name or ``scorer(estimator, X, y)``; higher must be better.
        Default ``"accuracy"`` for classifiers, ``"r2"`` for regressors.
    single : bool, default False
        Train each model once on one stratified train/test split and compare their
        predictions with McNemar's test (for models too expensive to train repeatedly;
        classifiers only).
    test_size : float, default 0.25
        Test fraction for ``single=True`` and for ``cv=int``.
    groups : array-like, optional
        Group labels for group-aware splitters.
    random_state : int, default 0
        Seeds the splits; fold ``i`` also sets every ``random_state`` parameter of every model
        to ``random_state + i`` (see ``vary_seeds``).
    vary_seeds : bool, default True
        Give the models a different seed on each fold (the same for all models on a fold),
        so a lucky initialisation cannot decide the comparison. ``False`` keeps the models'
        own ``random_state``.
    alpha : float, default 0.05
        Significance level of the verdicts.
    progress : callable, optional
        Called with one line of text after each fold (the CLI prints it).

    Returns
    -------
    CompareResult
        Per-fold scores, every pair's test (Holm-adjusted for more than two models) and the
        verdict as ``str(result)``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.dummy import DummyClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> result = compare({"logistic": LogisticRegression(max_iter=1000), "dummy": DummyClassifier()}, X, y)
    >>> result.winner
    'logistic'
    """
    classifier = _check_models(models)
    n = _check_data(X, y)
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha!r} must be between 0 and 1 (usually 0.05).")
    if not 0 < test_size < 1:
        raise ConfigError(f"test_size={test_size!r} must be a fraction between 0 and 1.")
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise ConfigError(f"random_state={random_state!r} must be an integer.")
    random_state = int(random_state)
    if single:
        return _compare_single(models, X, y, n=n, cv=cv, scoring=scoring, test_size=test_size, random_state=random_state,
                               vary_seeds=vary_seeds, alpha=alpha, progress=progress)
    return _compare_repeated(models, X, y, classifier=classifier, cv=cv, scoring=scoring, test_size=test_size, groups=groups,
                             random_state=random_state, vary_seeds=vary_seeds, alpha=alpha, progress=progress)


def confirm(
    estimators: Mapping[str, Any],
    X: Any,
    y: Any,
    cv: Any = None,
    *,
    scoring: str | Callable[..., float] | None = None,
    random_state: int = 0,
    alpha: float = 0.05,
    progress: Callable[[str], None] | None = None,
) -> CompareResult:
    """Re-evaluate a search's top configurations on repeated folds before declaring a winner.

    The hook behind ``trainwell tune --confirm K``: pass the top ``K`` configured estimators
    (named, e.g. ``{"trial 12": est12, "trial 3": est3}``). ``result.winner`` is the name of the
    configuration that is significantly better than every other one, or ``None`` when the
    search's ranking could be chance; ``str(result)`` says which.

    Parameters
    ----------
    estimators : dict of str to estimator
        The configurations to compare (at least 2).
    X, y : array-like
        The search's training data (never its final test set).
    cv : see :func:`compare`
        Default: 5-fold cross-validation repeated twice.
    scoring, random_state, alpha, progress : see :func:`compare`

    Returns
    -------
    CompareResult
    """
    return compare(estimators, X, y, cv=cv, scoring=scoring, random_state=random_state, alpha=alpha, progress=progress)


def _with_holm(tests: list[PairTest]) -> list[PairTest]:
    if len(tests) < 2:
        return tests
    adjusted = holm([t.p_value for t in tests])
    return [t.adjusted(p, len(tests)) for t, p in zip(tests, adjusted, strict=True)]


def _compare_repeated(models, X, y, *, classifier, cv, scoring, test_size, groups, random_state, vary_seeds, alpha, progress) -> CompareResult:
    scorer, metric = _scorer(scoring, classifier)
    splits, design, unit = _splits(cv, X, y, groups, classifier, test_size, random_state)
    names = list(models)
    scores = np.empty((len(splits), len(names)))
    seconds = np.empty_like(scores)
    for i, (train, test) in enumerate(splits):
        X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
        y_train, y_test = _safe_indexing(y, train), _safe_indexing(y, test)
        for j, name in enumerate(names):
            model = clone(models[name])
            if vary_seeds:
                _reseed(model, random_state + i)
            seconds[i, j] = _fit_timed(model, X_train, y_train, name, f"{unit} {i}")
            scores[i, j] = float(scorer(model, X_test, y_test))
        if progress is not None:
            shown = ", ".join(f"{name} {scores[i, j]:.4f} ({seconds[i, j]:.1f}s)" for j, name in enumerate(names))
            progress(f"{unit} {i + 1}/{len(splits)}: {shown}")
    n_train = np.mean([len(tr) for tr, _ in splits])
    n_test = np.mean([len(te) for _, te in splits])
    ratio = float(n_test / n_train)
    index = pd.RangeIndex(len(splits), name=unit)
    score_frame = pd.DataFrame(scores, columns=names, index=index)
    tests = [
        wilcoxon(score_frame[a], score_frame[b], names=(a, b), metric=metric, alpha=alpha, test_train_ratio=ratio, unit=unit)
        for a, b in itertools.combinations(names, 2)
    ]
    return CompareResult(
        scores=score_frame,
        fit_seconds=pd.DataFrame(seconds, columns=names, index=index),
        tests=_with_holm(tests),
        metric=metric,
        design=design,
        method="wilcoxon",
        alpha=alpha,
        notes=[],
        test_train_ratio=ratio,
    )


def _compare_single(models, X, y, *, n, cv, scoring, test_size, random_state, vary_seeds, alpha, progress) -> CompareResult:
    if not _check_models(models):
        raise ConfigError("single=True uses McNemar's test on class predictions, so it needs classifiers; compare regressors on repeated folds (single=False).")
    if cv is not None:
        raise ConfigError("single=True makes one train/test split of test_size; leave cv unset (or use single=False for folds).")
    if scoring not in (None, "accuracy"):
        raise ConfigError(f"single=True compares which test rows each model gets right (accuracy); scoring={scoring!r} needs repeated folds (single=False).")
    y_arr = np.asarray(y)
    try:
        train, test = train_test_split(np.arange(n), test_size=test_size, stratify=y_arr, random_state=random_state)
    except ValueError as exc:
        raise DataError(f"The data cannot be split into a stratified train/test split ({str(exc).rstrip('.')}); every class needs at least 2 rows.") from None
    X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
    y_train, y_test = _safe_indexing(y, train), y_arr[test]
    names = list(models)
    predictions: dict[str, Any] = {"y_true": y_test}
    accuracy, seconds = [], []
    for name in names:
        model = clone(models[name])
        if vary_seeds:
            _reseed(model, random_state)
        seconds.append(_fit_timed(model, X_train, y_train, name, "the training split"))
        predictions[name] = np.asarray(model.predict(X_test))
        accuracy.append(float(np.mean(predictions[name] == y_test)))
        if progress is not None:
            progress(f"{name}: accuracy {accuracy[-1]:.4f} ({seconds[-1]:.1f}s)")
    index = pd.RangeIndex(1, name="split")
    tests = [
        mcnemar(y_test, predictions[a], predictions[b], names=(a, b), alpha=alpha)
        for a, b in itertools.combinations(names, 2)
    ]
    note = (
        f"One train/test split and one training run per model: McNemar's test compares these trained models on these "
        f"{len(test)} test rows; it cannot see how much the result would vary with another split or seed."
    )
    return CompareResult(
        scores=pd.DataFrame([accuracy], columns=names, index=index),
        fit_seconds=pd.DataFrame([seconds], columns=names, index=index),
        tests=_with_holm(tests),
        metric="accuracy",
        design=f"one stratified {1 - test_size:.0%}/{test_size:.0%} train/test split ({len(test)} test rows)",
        method="mcnemar",
        alpha=alpha,
        notes=[note],
        test_train_ratio=float(len(test) / len(train)),
        predictions=pd.DataFrame(predictions),
    )

