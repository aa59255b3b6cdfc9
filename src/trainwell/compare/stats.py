"""Two paired tests for comparing models, and the Holm correction: pure functions on numbers.

:func:`wilcoxon` compares two models' scores on the same folds (or seeds);
:func:`mcnemar` compares two classifiers' predictions on one test set. Both return a frozen
result whose ``verdict`` says in plain words what the numbers mean.

SciPy computes the tests (``scipy.stats.wilcoxon``, ``scipy.stats.binomtest``,
``scipy.stats.chi2``, ``scipy.stats.ttest_rel``). What this module adds is what SciPy leaves
to the reader:

- the *smallest p-value the test can reach* with this many pairs, so that "5 folds can
  never give p < 0.05" is said plainly instead of "not significant";
- an effect size (matched-pairs rank-biserial correlation) and a confidence interval for the
  mean difference, with the Nadeau-Bengio correction when the folds share training rows;
- the choice between McNemar's exact and chi-square versions, and the verdict sentence;
- the Holm step-down correction for many pairs (SciPy has only Benjamini-Hochberg/Yekutieli).

Over 400 lines on purpose: the two tests, the Holm correction and their verdicts in words
belong together; each function is short.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from scipy import stats

from ..exceptions import ConfigError, DataError

__all__ = ["McNemarResult", "WilcoxonResult", "holm", "mcnemar", "wilcoxon"]

# Below this many disagreements McNemar's chi-square approximation is poor and the exact
# binomial version is used (the usual rule, e.g. statsmodels' documentation and Fagerland et al. 2013).
MCNEMAR_EXACT_BELOW = 25

# Metrics that are proportions: their differences read best in percentage points.
_PROPORTION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "jaccard")


# ---------------------------------------------------------------------- formatting helpers
def _is_proportion(metric: str) -> bool:
    return any(key in metric for key in _PROPORTION_METRICS)


def _format_p(p: float) -> str:
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.2g}" if p < 0.995 else "p = 1"


def _number(value: float, metric: str, signed: bool = True) -> str:
    """A difference in the metric's own terms: percentage points for proportions."""
    if _is_proportion(metric):
        value *= 100
        # One decimal for a point or more; two significant digits below, so that -0.04 does not print as -0.0.
        text = f"{value:.1f}" if abs(value) >= 1 else f"{value:.2g}"
    else:
        text = f"{value:.3g}"
    return f"+{text}" if signed and value > 0 else text


def _unit_of(metric: str) -> str:
    return " points" if _is_proportion(metric) else ""


def _format_amount(value: float, metric: str, signed: bool = True) -> str:
    return _number(value, metric, signed) + _unit_of(metric)


def _plural(n: int, unit: str) -> str:
    return unit if n == 1 else f"{unit}s"


def min_two_sided_p(n: int) -> float:
    """The smallest two-sided p-value of an exact sign-flip test on ``n`` non-zero pairs.

    All ``2**n`` sign patterns are equally likely under the null hypothesis; the most
    extreme one (every pair favours the same model) and its mirror image give ``2 / 2**n``.
    This holds for the exact Wilcoxon test, its permutation version with ties, and
    McNemar's exact (binomial) test.
    """
    return min(1.0, 2.0 ** (1 - n))


def pairs_needed(alpha: float) -> int:
    """The fewest differing pairs for which ``2 / 2**n < alpha`` (6 for alpha = 0.05)."""
    return math.floor(1 + math.log2(1 / alpha)) + 1


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of p-values for multiple comparisons.

    SciPy provides only the Benjamini-Hochberg/Yekutieli procedures
    (``scipy.stats.false_discovery_control``), which control the false discovery rate; Holm
    controls the family-wise error rate (the chance of *any* false "A is better"), which is
    what "is the best model really the best?" needs. It is four lines, so it is written here.

    Parameters
    ----------
    p_values : sequence of float
        Raw p-values, one per comparison.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order: the ``i``-th smallest p is multiplied by
        ``m - i`` (``i`` from 0), made non-decreasing in that order, and capped at 1.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise DataError("holm() needs a 1-D sequence of p-values between 0 and 1.")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha!r} must be between 0 and 1 (usually 0.05).")


def _check_names(names: Sequence[str]) -> tuple[str, str]:
    if len(names) != 2 or names[0] == names[1]:
        raise ConfigError(f"names={tuple(names)!r} must be two different names, such as ('A', 'B').")
    return str(names[0]), str(names[1])


def _conclusion(p: float, alpha: float, label: str) -> str:
    if p < alpha:
        return f"{label}: the difference is unlikely to be chance."
    return f"{label}: the difference could well be chance; neither model is shown to be better."


# ---------------------------------------------------------------------- Wilcoxon
@dataclass(frozen=True)
class WilcoxonResult:
    """Outcome of :func:`wilcoxon`: two models' paired scores, tested.

    Attributes
    ----------
    statistic : float
        SciPy's statistic (the smaller of the signed-rank sums, two-sided).
    p_value : float
        Two-sided p-value of the signed-rank test, before any multiple-comparison correction.
    warnings : list of str
        Sentences about what limits the result (too few pairs, etc.).
    names : tuple of str
        Names of the two models, ``(a, b)``.
    metric : str
        Name of the score.
    n : int
        Number of paired scores.
    n_a_better, n_b_better, n_ties : int
        On how many pairs each model did better, and how many were exact ties.
    mean_a, mean_b, std_a, std_b : float
        Mean and standard deviation (``ddof=1``) of each model's scores.
    mean_difference : float
        Mean of ``a - b``.
    ci_low, ci_high : float
        Confidence interval for the mean of ``a - b`` (t-distribution; Nadeau-Bengio corrected
        when ``test_train_ratio`` was given).
    confidence : float
        Level of that interval.
    effect_size : float
        Matched-pairs rank-biserial correlation (Kerby 2014) in -1..1: +1 when ``a`` is better on
        every pair, -1 when ``b`` is, 0 when the signed ranks balance.
    min_p_value : float
        Smallest p-value the exact test could give with this many non-tied pairs.
    method : str
        How SciPy computed the p-value.
    alpha : float
        Significance level used in the verdict.
    higher_is_better : bool
        Direction of the score.
    unit : str
        What one pair is called in the verdict (``"fold"``, ``"seed"``).
    p_adjusted : float or None
        Holm-adjusted p-value when this pair is one of several comparisons.
    n_comparisons : int
        Number of comparisons the adjustment covered (1 when none).
    """

    statistic: float
    p_value: float
    warnings: list[str]
    names: tuple[str, str]
    metric: str
    n: int
    n_a_better: int
    n_b_better: int
    n_ties: int
    mean_a: float
    mean_b: float
    std_a: float
    std_b: float
    mean_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    effect_size: float
    min_p_value: float
    method: str
    alpha: float = 0.05
    higher_is_better: bool = True
    unit: str = "fold"
    p_adjusted: float | None = None
    n_comparisons: int = 1
    ci_corrected: bool = False

    @property
    def p(self) -> float:
        """The p-value the verdict uses: Holm-adjusted when there are several comparisons."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    @property
    def significant(self) -> bool:
        """Whether the (adjusted) p-value is below ``alpha``."""
        return self.n_a_better + self.n_b_better > 0 and self.p < self.alpha

    @property
    def better(self) -> str | None:
        """Name of the model with the better mean score, or ``None`` for an exact tie."""
        # Means equal up to rounding noise count as equal.
        tolerance = 1e-12 * max(abs(self.mean_a), abs(self.mean_b), 1.0)
        if abs(self.mean_difference) <= tolerance:
            return None
        sign = np.sign(self.mean_difference) * (1 if self.higher_is_better else -1)
        return self.names[0] if sign > 0 else self.names[1]

    @property
    def verdict(self) -> str:
        """The result in one or two plain sentences."""
        a, b = self.names
        n_differ = self.n_a_better + self.n_b_better
        if n_differ == 0:
            return f"{a} and {b} scored exactly the same on all {self.n} {_plural(self.n, self.unit)}; there is no difference to test."
        if self.better is None:
            return (
                f"{a} and {b} have the same mean {self.metric}; {a} is better on {self.n_a_better} and {b} on "
                f"{self.n_b_better} of {self.n} {_plural(self.n, self.unit)}; Wilcoxon {_format_p(self.p)}: neither model is shown to be better."
            )
        if self.better == b:
            winner, loser, wins, sign = b, a, self.n_b_better, -1.0
        else:
            winner, loser, wins, sign = a, b, self.n_a_better, 1.0
        # The winner's advantage, positive in the "better" direction.
        direction = 1.0 if self.higher_is_better else -1.0
        adv = sign * direction * self.mean_difference
        lo, hi = sorted((sign * direction * self.ci_low, sign * direction * self.ci_high))
        ties = f", {self.n_ties} tied" if self.n_ties else ""
        amount = _format_amount(adv, self.metric)
        if not self.higher_is_better:
            amount = f"{_format_amount(adv, self.metric, signed=False)} lower"
        ci = f"{self.confidence:.0%} CI {_number(lo, self.metric, False)} to {_number(hi, self.metric, False)}{_unit_of(self.metric)}"
        head = f"{winner} is better than {loser} on {wins} of {self.n} {_plural(self.n, self.unit)}{ties}; mean {self.metric} {amount} ({ci})"
        if self.p_adjusted is None:
            label = f"Wilcoxon {_format_p(self.p_value)}"
        else:
            label = f"Wilcoxon {_format_p(self.p_adjusted)} (Holm-adjusted for {self.n_comparisons} comparisons; raw {_format_p(self.p_value)})"
        if self.p >= self.alpha and self.min_p_value >= self.alpha:
            return (
                f"{head}; {label}: with {n_differ} {_plural(n_differ, self.unit)} that differ this test can never reach "
                f"p < {self.alpha:g}, so it cannot tell."
            )
        if self.p < self.alpha and self.ci_corrected and lo <= 0:
            return (
                f"{head}; {label}, but the interval, which allows for {self.unit}s sharing training rows, "
                "includes no difference: treat it as a hint, not proof."
            )
        return f"{head}; {_conclusion(self.p, self.alpha, label)}"

    def adjusted(self, p_adjusted: float, n_comparisons: int) -> WilcoxonResult:
        """A copy carrying a multiple-comparison adjusted p-value (used by :func:`~trainwell.compare.compare`)."""
        return replace(self, p_adjusted=float(p_adjusted), n_comparisons=int(n_comparisons))

    def __str__(self) -> str:
        return " ".join([self.verdict, *self.warnings])


def _paired_scores(scores_a: Any, scores_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(scores_a, dtype=float).ravel()
    b = np.asarray(scores_b, dtype=float).ravel()
    if a.shape != b.shape:
        raise DataError(f"scores_a has {a.size} values and scores_b {b.size}; give one score per fold for each model, in the same order.")
    if a.size < 2:
        raise DataError(f"Only {a.size} paired score(s); a paired test needs scores of both models on at least 2 folds or seeds.")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise DataError("The scores contain NaN or infinity; a fold whose score could not be computed must be fixed or left out for both models.")
    return a, b


def _differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` with floating-point noise removed, scaled to the scores' magnitude.

    Accuracies such as 53/60 - 51/60 and 56/60 - 54/60 differ in the last bit after the
    subtraction, so SciPy would rank them apart and miss the tie (its documentation warns of
    this and advises rounding the differences). Rounding to 10 significant digits of the
    largest score restores the ties; ranks, signs and therefore the test do not depend on the
    scale, so the scaled differences are what is tested.
    """
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1e-300)
    return np.round((a - b) / scale, 10)


def _rank_biserial(d: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (Kerby 2014) over the non-zero differences.

    ``(R+ - R-) / (R+ + R-)``: the share of rank mass favouring ``a`` minus the share
    favouring ``b``. SciPy does not report an effect size for the Wilcoxon test.
    """
    nz = d[d != 0]
    if nz.size == 0:
        return 0.0
    ranks = stats.rankdata(np.abs(nz))
    return float((ranks[nz > 0].sum() - ranks[nz < 0].sum()) / ranks.sum())


def _mean_ci(a: np.ndarray, b: np.ndarray, confidence: float, test_train_ratio: float | None) -> tuple[float, float]:
    """t-interval for the mean of ``a - b``.

    Without a ratio this is SciPy's paired t interval. Scores from resampled train/test splits
    are not independent (their training sets overlap), which makes that interval too narrow;
    Nadeau & Bengio (2003) widen the variance of the mean from ``s**2 / n`` to
    ``s**2 * (1/n + n_test/n_train)``. SciPy has no such option, so the corrected interval is
    computed here from the same t quantile.
    """
    if test_train_ratio is None:
        ci = stats.ttest_rel(a, b).confidence_interval(confidence_level=confidence)
        return float(ci.low), float(ci.high)
    d = a - b
    n = d.size
    se = math.sqrt(np.var(d, ddof=1) * (1.0 / n + test_train_ratio))
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * se
    return float(d.mean() - half), float(d.mean() + half)


def _scipy_method(d: np.ndarray) -> str:
    """Which p-value SciPy's ``method="auto"`` computes (mirrors its documented rule, for the report)."""
    _, counts = np.unique(np.abs(d[d != 0]), return_counts=True)
    if d.size > 50:
        return "normal approximation"
    if not np.any(d == 0) and not np.any(counts > 1):
        return "exact"
    if d.size <= 13:
        return "exact (all sign flips, ties and zeros allowed)"
    return "normal approximation (ties)"


def wilcoxon(
    scores_a: Sequence[float],
    scores_b: Sequence[float],
    *,
    names: Sequence[str] = ("A", "B"),
    metric: str = "accuracy",
    alpha: float = 0.05,
    confidence: float = 0.95,
    higher_is_better: bool = True,
    zero_method: Literal["zsplit", "wilcox", "pratt"] = "zsplit",
    test_train_ratio: float | None = None,
    unit: str = "fold",
) -> WilcoxonResult:
    """Wilcoxon signed-rank test on two models' paired scores (same folds or seeds, same order).

    Parameters
    ----------
    scores_a, scores_b : sequence of float
        Score of each model on each fold; ``scores_a[i]`` and ``scores_b[i]`` come from the
        same fold.
    names : (str, str), default ("A", "B")
        What to call the models in the verdict.
    metric : str, default "accuracy"
        Name of the score, for the verdict. Proportions (accuracy, f1, ...) are shown in
        percentage points.
    alpha : float, default 0.05
        Significance level of the verdict.
    confidence : float, default 0.95
        Level of the interval for the mean difference.
    higher_is_better : bool, default True
        False for losses and errors.
    zero_method : {"zsplit", "wilcox", "pratt"}, default "zsplit"
        How folds where both models score exactly the same count. ``"zsplit"`` splits their
        ranks between the two sides, as Demšar (2006) recommends for comparing classifiers, so
        a tie counts as evidence of no difference; ``"wilcox"`` drops them (SciPy's default).
    test_train_ratio : float, optional
        ``n_test / n_train`` of the splits that produced the scores. When given, the interval
        for the mean difference is widened by the Nadeau-Bengio correction for overlapping
        training sets (:func:`~trainwell.compare.compare` passes it).
    unit : str, default "fold"
        What one pair is called in the verdict.

    Returns
    -------
    WilcoxonResult
        ``statistic``, ``p_value``, ``verdict``, ``warnings``, the effect size and the interval.

    Notes
    -----
    With ``n`` pairs that differ, the smallest two-sided p-value the exact test can produce is
    ``2 / 2**n``: 0.0625 for 5 pairs. Then "p >= 0.05" says nothing about the models, and the
    verdict says that the test cannot tell instead of "not significant".
    """
    names = _check_names(names)
    _check_alpha(alpha)
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence={confidence!r} must be between 0 and 1 (usually 0.95).")
    if zero_method not in ("zsplit", "wilcox", "pratt"):
        raise ConfigError(f"zero_method={zero_method!r} must be 'zsplit', 'wilcox' or 'pratt'.")
    if test_train_ratio is not None and not test_train_ratio >= 0:
        raise ConfigError(f"test_train_ratio={test_train_ratio!r} must be n_test / n_train, a number >= 0.")
    a, b = _paired_scores(scores_a, scores_b)
    d = _differences(a, b)
    n_a_better = int(np.sum(d > 0) if higher_is_better else np.sum(d < 0))
    n_b_better = int(np.sum(d < 0) if higher_is_better else np.sum(d > 0))
    n_ties = int(np.sum(d == 0))
    n_differ = n_a_better + n_b_better

    if n_differ == 0:
        # SciPy divides by zero here; there is nothing to test, and p = 1 says so.
        statistic, p_value, method = 0.0, 1.0, "none (all pairs tied)"
    else:
        res = stats.wilcoxon(d, zero_method=zero_method, alternative="two-sided", method="auto")
        statistic, p_value, method = float(res.statistic), float(res.pvalue), _scipy_method(d)
    if np.all(d == d[0]):  # the same difference on every pair: no spread, the interval is the point itself
        ci_low = ci_high = float(np.mean(a - b))
    else:
        ci_low, ci_high = _mean_ci(a, b, confidence, test_train_ratio)

    min_p = min_two_sided_p(n_differ)
    warnings: list[str] = []
    if n_differ and min_p >= alpha:
        need = pairs_needed(alpha)
        warnings.append(
            f"The smallest two-sided p-value of a Wilcoxon test on {n_differ} differing {_plural(n_differ, unit)} is "
            f"2/2^{n_differ} = {min_p:.3g}; use at least {need} {unit}s that differ, 10 or more to detect modest differences."
        )
    if n_ties and n_ties * 2 >= a.size:
        warnings.append(
            f"{n_ties} of {a.size} {_plural(a.size, unit)} are exact ties; the scores may be too coarse (a small test set) to tell the models apart."
        )
    return WilcoxonResult(
        statistic=statistic,
        p_value=p_value,
        warnings=warnings,
        names=names,
        metric=metric,
        n=int(a.size),
        n_a_better=n_a_better,
        n_b_better=n_b_better,
        n_ties=n_ties,
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        std_a=float(a.std(ddof=1)),
        std_b=float(b.std(ddof=1)),
        mean_difference=float(np.mean(a - b)),
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        effect_size=_rank_biserial(d),
        min_p_value=min_p,
        method=method,
        alpha=alpha,
        higher_is_better=higher_is_better,
        unit=unit,
        ci_corrected=test_train_ratio is not None,
    )


# ---------------------------------------------------------------------- McNemar
@dataclass(frozen=True)
class McNemarResult:
    """Outcome of :func:`mcnemar`: two classifiers' predictions on one test set, tested.

    Attributes
    ----------
    statistic : float
        Exact version: ``min(n_a_only, n_b_only)`` (as statsmodels reports it). Chi-square
        version: ``(|n_a_only - n_b_only| - 1)**2 / (n_a_only + n_b_only)``.
    p_value : float
        Two-sided p-value, before any multiple-comparison correction.
    warnings : list of str
        Sentences about what limits the result.
    table : tuple of tuple of int
        ``((both right, only a right), (only b right, both wrong))``.
    names : tuple of str
        Names of the two models.
    n : int
        Number of test rows.
    n_a_only, n_b_only : int
        Rows only ``a`` (only ``b``) got right: the disagreements the test is about.
    accuracy_a, accuracy_b : float
        Accuracy of each model on the test rows.
    exact : bool
        Whether the exact binomial version was used.
    method : str
        Which version, in words.
    alpha : float
        Significance level of the verdict.
    p_adjusted : float or None
        Holm-adjusted p-value when this pair is one of several comparisons.
    n_comparisons : int
        Number of comparisons the adjustment covered.
    """

    statistic: float
    p_value: float
    warnings: list[str]
    table: tuple[tuple[int, int], tuple[int, int]]
    names: tuple[str, str]
    n: int
    n_a_only: int
    n_b_only: int
    accuracy_a: float
    accuracy_b: float
    exact: bool
    method: str
    alpha: float = 0.05
    p_adjusted: float | None = None
    n_comparisons: int = 1
    metric: str = field(default="accuracy")

    @property
    def p(self) -> float:
        """The p-value the verdict uses: Holm-adjusted when there are several comparisons."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    @property
    def significant(self) -> bool:
        """Whether the (adjusted) p-value is below ``alpha``."""
        return self.n_a_only != self.n_b_only and self.p < self.alpha

    @property
    def better(self) -> str | None:
        """Name of the more accurate model, or ``None`` when they are equally accurate."""
        if self.n_a_only == self.n_b_only:
            return None
        return self.names[0] if self.n_a_only > self.n_b_only else self.names[1]

    @property
    def verdict(self) -> str:
        """The result in one or two plain sentences."""
        a, b = self.names
        n_differ = self.n_a_only + self.n_b_only
        if n_differ == 0:
            return f"{a} and {b} are right and wrong on exactly the same {self.n} test rows; there is no difference to test."
        if self.better == b:
            winner, loser, w_only, l_only, acc_w, acc_l = b, a, self.n_b_only, self.n_a_only, self.accuracy_b, self.accuracy_a
        else:
            winner, loser, w_only, l_only, acc_w, acc_l = a, b, self.n_a_only, self.n_b_only, self.accuracy_a, self.accuracy_b
        head = (
            f"{winner} is right on {w_only} test {_plural(w_only, 'row')} where {loser} is wrong, {loser} on {l_only} where {winner} is wrong "
            f"(accuracy {acc_w:.1%} vs {acc_l:.1%}, {_format_amount(acc_w - acc_l, 'accuracy')})"
        )
        version = "exact" if self.exact else "chi-square"
        if self.p_adjusted is None:
            label = f"McNemar {version} {_format_p(self.p_value)}"
        else:
            label = f"McNemar {version} {_format_p(self.p_adjusted)} (Holm-adjusted for {self.n_comparisons} comparisons; raw {_format_p(self.p_value)})"
        if self.exact and self.p >= self.alpha and min_two_sided_p(n_differ) >= self.alpha:
            return (
                f"{head}; {label}: with {n_differ} test {_plural(n_differ, 'row')} where they disagree this test can never reach "
                f"p < {self.alpha:g}, so it cannot tell."
            )
        return f"{head}; {_conclusion(self.p, self.alpha, label)}"

    def adjusted(self, p_adjusted: float, n_comparisons: int) -> McNemarResult:
        """A copy carrying a multiple-comparison adjusted p-value."""
        return replace(self, p_adjusted=float(p_adjusted), n_comparisons=int(n_comparisons))

    def __str__(self) -> str:
        return " ".join([self.verdict, *self.warnings])


def mcnemar(
    y_true: Sequence[Any],
    pred_a: Sequence[Any],
    pred_b: Sequence[Any],
    exact: bool | None = None,
    *,
    names: Sequence[str] = ("A", "B"),
    alpha: float = 0.05,
) -> McNemarResult:
    """McNemar's test: do two classifiers, trained once, differ in accuracy on the same test rows?

    Only the rows where exactly one model is right carry information: ``n_a_only`` (a right,
    b wrong) and ``n_b_only``. Under "equally accurate" each such row is a fair coin.

    Parameters
    ----------
    y_true : sequence
        True labels of the test rows.
    pred_a, pred_b : sequence
        Each model's predicted labels for the same rows, in the same order.
    exact : bool, optional
        ``True``: exact binomial test (``scipy.stats.binomtest``). ``False``: chi-square with
        Edwards' continuity correction. ``None`` (default): exact when the models disagree on
        fewer than 25 rows, where the chi-square approximation is poor.
    names : (str, str), default ("A", "B")
        What to call the models in the verdict.
    alpha : float, default 0.05
        Significance level of the verdict.

    Returns
    -------
    McNemarResult
        ``statistic``, ``p_value``, ``verdict``, ``warnings`` and the 2x2 table.

    Notes
    -----
    McNemar's test judges these two *trained* models on *this* test set. It cannot say how
    much the result would change with another split or another seed; when training is cheap
    enough, repeated folds and :func:`wilcoxon` answer that.
    """
    names = _check_names(names)
    _check_alpha(alpha)
    if exact not in (None, True, False):
        raise ConfigError(f"exact={exact!r} must be True, False or None (automatic).")
    y, pa, pb = (np.asarray(v).ravel() for v in (y_true, pred_a, pred_b))
    if not (y.size == pa.size == pb.size):
        raise DataError(f"y_true, pred_a and pred_b have {y.size}, {pa.size} and {pb.size} values; give one prediction of each model per test row.")
    if y.size == 0:
        raise DataError("y_true is empty; McNemar's test needs predictions on at least one test row.")
    right_a, right_b = pa == y, pb == y
    both = int(np.sum(right_a & right_b))
    a_only = int(np.sum(right_a & ~right_b))
    b_only = int(np.sum(~right_a & right_b))
    neither = int(np.sum(~right_a & ~right_b))
    n_differ = a_only + b_only
    use_exact = n_differ < MCNEMAR_EXACT_BELOW if exact is None else bool(exact)

    warnings: list[str] = []
    if n_differ == 0:
        statistic, p_value, method = 0.0, 1.0, "none (no disagreements)"
    elif use_exact:
        # Each disagreement is a coin flip under the null: a two-sided binomial test at 0.5.
        statistic = float(min(a_only, b_only))
        p_value = float(stats.binomtest(a_only, n_differ, 0.5, alternative="two-sided").pvalue)
        method = "exact binomial"
    else:
        # Edwards' continuity correction; when the counts are equal the correction is skipped
        # (as R's mcnemar.test does) so that the statistic is 0 and p = 1, not slightly below.
        corr = 1.0 if a_only != b_only else 0.0
        statistic = (abs(a_only - b_only) - corr) ** 2 / n_differ
        p_value = float(stats.chi2.sf(statistic, df=1))
        method = "chi-square with continuity correction"
        if n_differ < MCNEMAR_EXACT_BELOW:
            warnings.append(
                f"The models disagree on only {n_differ} test rows; the chi-square approximation is poor below "
                f"{MCNEMAR_EXACT_BELOW}, so use exact=True (or leave exact=None)."
            )
    min_p = min_two_sided_p(n_differ)
    if n_differ and use_exact and min_p >= alpha:
        warnings.append(
            f"The smallest two-sided p-value of McNemar's exact test on {n_differ} {_plural(n_differ, 'disagreement')} is 2/2^{n_differ} = {min_p:.3g}; "
            f"use a test set on which the models disagree at least {pairs_needed(alpha)} times."
        )
    return McNemarResult(
        statistic=float(statistic),
        p_value=p_value,
        warnings=warnings,
        table=((both, a_only), (b_only, neither)),
        names=names,
        n=int(y.size),
        n_a_only=a_only,
        n_b_only=b_only,
        accuracy_a=float(right_a.mean()),
        accuracy_b=float(right_b.mean()),
        exact=use_exact,
        method=method,
        alpha=alpha,
    )
