"""Advice that is checked: train, apply the top finding's fix, train again, and say whether it helped.

A finding that advises a change carries it as data (``Finding.fix``, e.g. ``{"lr": 0.001}``).
:func:`fix` trains the estimator, takes the first finding at warning or error level that
carries a fix, trains a copy with the fix applied on the same training rows with the same seed,
and scores both on the same held-out rows. With ``repeats`` of 5 or more both settings are
trained on as many seeds and the paired scores judged by the Wilcoxon signed-rank test, as
:func:`trainwell.compare.compare` judges two models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..diagnose.findings import Finding
from ..exceptions import ConfigError

__all__ = ["FixResult", "fix"]

#: Fewest paired runs for which the verdict quotes the Wilcoxon test (fewer cannot reach p < 0.05).
MIN_REPEATS_FOR_TEST = 5


@dataclass
class FixResult:
    """What :func:`fix` found: the finding, its fix, and both runs' held-out scores.

    Attributes
    ----------
    finding : Finding or None
        The top finding that carried a fix (``None`` when no finding advised a change).
    fix : dict
        The parameters changed for the second run (``{}`` when there was nothing to fix).
    metric : str
        ``"accuracy"`` (classifier) or ``"r2"`` (regressor), on the held-out rows.
    before, after : list of float
        The held-out scores without and with the fix, one per seed (``after`` is empty when
        there was nothing to fix).
    p_value : float or None
        Wilcoxon signed-rank p-value over the paired seeds (``repeats >= 5``), else ``None``.
    estimator, fixed_estimator : fitted estimators
        The last seed's run without and with the fix.
    """

    finding: Finding | None
    fix: dict[str, Any]
    metric: str
    before: list[float]
    after: list[float] = field(default_factory=list)
    p_value: float | None = None
    estimator: Any = None
    fixed_estimator: Any = None

    @property
    def improved(self) -> bool | None:
        """Whether the fix raised the held-out score (significantly, when tested); ``None`` without a fix."""
        if not self.after:
            return None
        gain = float(np.mean(self.after) - np.mean(self.before))
        if self.p_value is not None:
            return gain > 0 and self.p_value < 0.05
        return gain > 0

    @property
    def verdict(self) -> str:
        """The outcome in one or two sentences."""
        name = "test accuracy" if self.metric == "accuracy" else "test R²"
        shown = "{:.1%}" if self.metric == "accuracy" else "{:.3f}"
        before = shown.format(float(np.mean(self.before)))
        if self.finding is None:
            return f"No finding advised a change ({name} {before}): nothing to fix."
        change = ", ".join(f"{k}={v!r}" for k, v in self.fix.items())
        after = shown.format(float(np.mean(self.after)))
        runs = f" (mean of {len(self.after)} seeds, Wilcoxon p={self.p_value:.3g})" if self.p_value is not None else ""
        if self.improved:
            return (f"Applying {change}, as {self.finding.code} advised, raised the {name} from {before} to "
                    f"{after}{runs}: keep it.")
        direction = "lowered" if np.mean(self.after) < np.mean(self.before) else "did not raise"
        return (f"Applying {change}, as {self.finding.code} advised, {direction} the {name} ({before} before, "
                f"{after} after{runs}): keep the original settings and look at the other findings.")

    def __str__(self) -> str:
        return self.verdict

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (``trainwell fit --fix --json``)."""
        return {"finding": None if self.finding is None else self.finding.code, "fix": dict(self.fix),
                "metric": self.metric, "before": self.before, "after": self.after, "p_value": self.p_value,
                "improved": self.improved, "verdict": self.verdict}


def top_fix(findings: list[Finding]) -> Finding | None:
    """The first finding (they are ranked) at warning or error level that carries a fix."""
    return next((f for f in findings if f.fix and f.severity != "info"), None)


def _score(est: Any, X: Any, y: Any) -> float:
    try:
        return float(est.score(X, y))
    except (ValueError, RuntimeError, FloatingPointError):
        return float("-inf") if not hasattr(est, "classes_") else 0.0  # a model that cannot predict scores worst


def fix(estimator: Any, X: Any, y: Any, *, X_test: Any = None, y_test: Any = None, test_fraction: float = 0.2,
        repeats: int = 1, random_state: int = 0) -> FixResult:
    """Train, apply the top finding's fix, train again on the same rows and seed, and compare.

    Parameters
    ----------
    estimator : NeuralNetClassifier or NeuralNetRegressor
        Its settings (it is cloned, not changed).
    X, y : array-like
        The data. Without ``X_test``, a stratified ``test_fraction`` of it is held out (the
        same rows for both runs) and both runs are scored there.
    X_test, y_test : array-like, optional
        Held-out rows to score on instead.
    test_fraction : float, default=0.2
    repeats : int, default=1
        Seeds to train both settings on; from 5, the verdict quotes the Wilcoxon signed-rank test.
    random_state : int, default=0
        Seed of the held-out split and of the first run (the estimator's own ``random_state``
        is replaced, so both runs draw the same validation rows, initial weights and batches).

    Returns
    -------
    FixResult
        ``str(result)`` is the verdict; ``result.fixed_estimator`` is the run with the fix.

    Examples
    --------
    >>> result = trainwell.fix(NeuralNetClassifier(lr=1.0), X, y)   # doctest: +SKIP
    >>> print(result)                                                # doctest: +SKIP
    Applying lr=0.001, as lr_too_high advised, raised the test accuracy from 0.62 to 0.96: keep it.
    """
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    if not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats={repeats!r} must be a positive integer (seeds to train each setting on).")
    if X_test is None:
        classification = hasattr(estimator, "predict_proba")
        stratify = y if classification and np.unique(np.asarray(y)).size * 2 <= len(y) * test_fraction else None
        X, X_test, y, y_test = train_test_split(X, y, test_size=test_fraction, random_state=random_state,
                                                stratify=stratify)
    metric = "accuracy" if hasattr(estimator, "predict_proba") else "r2"
    first = clone(estimator).set_params(random_state=random_state).fit(X, y)
    finding = top_fix(list(first.findings_))
    if finding is None:
        return FixResult(None, {}, metric, [_score(first, X_test, y_test)], estimator=first)
    before, after, last, fixed = [], [], first, None
    for seed in range(random_state, random_state + repeats):
        run = first if seed == random_state else clone(estimator).set_params(random_state=seed).fit(X, y)
        fixed = clone(estimator).set_params(random_state=seed, **finding.fix).fit(X, y)
        before.append(_score(run, X_test, y_test))
        after.append(_score(fixed, X_test, y_test))
        last = run
    p_value = None
    if repeats >= MIN_REPEATS_FOR_TEST:
        from .stats import wilcoxon

        test = wilcoxon(after, before, names=("with the fix", "without"), metric=metric, unit="seed")
        p_value = float(test.p_value)
    return FixResult(finding, dict(finding.fix), metric, before, after, p_value, last, fixed)
