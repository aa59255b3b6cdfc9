"""trainwell.compare: the statistics against independent oracles, then compare() end to end.

Oracles: full enumeration of the 2**n sign flips (the definition of the exact signed-rank
test, with ties and zeros), closed forms (2 / 2**n, binomial sums, the chi-square survival
function through erfc), SciPy's paired t interval, textbook Holm values, and statsmodels when
it is installed.
"""

from __future__ import annotations

import argparse
import io
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from trainwell import NeuralNetClassifier
from trainwell.cli.compare import add_parser, build_model, parse_model_spec
from trainwell.compare import CompareResult, compare, confirm, holm, mcnemar, plot_scores, wilcoxon
from trainwell.exceptions import ConfigError, DataError


# ---------------------------------------------------------------------- oracles
def enumerated_p(d, zero_method):
    """Two-sided exact signed-rank p by listing every sign pattern of the non-zero differences."""
    d = np.asarray(d, dtype=float)
    if zero_method == "wilcox":
        d = d[d != 0]
    ranks = stats.rankdata(np.abs(d))
    nonzero = d != 0
    zero_share = ranks[~nonzero].sum() / 2 if zero_method == "zsplit" else 0.0

    def r_plus(signs):
        return ranks[nonzero][signs > 0].sum() + zero_share

    observed = r_plus(np.sign(d[nonzero]))
    null = np.array([r_plus(np.array(s)) for s in itertools.product([-1, 1], repeat=int(nonzero.sum()))])
    eps = 1e-9
    return min(1.0, 2 * min(np.mean(null >= observed - eps), np.mean(null <= observed + eps)))


def chi2_1_sf(x):
    """Survival function of chi-square with 1 degree of freedom: P(Z**2 > x) = erfc(sqrt(x / 2))."""
    return math.erfc(math.sqrt(x / 2))


def predictions_for_table(both, a_only, b_only, neither):
    """y_true, pred_a, pred_b realising a McNemar 2x2 table (labels 0/1)."""
    y = np.zeros(both + a_only + b_only + neither, dtype=int)
    pa, pb = y.copy(), y.copy()
    i = both
    pb[i:i + a_only] = 1
    i += a_only
    pa[i:i + b_only] = 1
    i += b_only
    pa[i:] = 1
    pb[i:] = 1
    return y, pa, pb


# ---------------------------------------------------------------------- Wilcoxon
def test_wilcoxon_without_ties_is_the_exact_test():
    a = np.array([0.912, 0.934, 0.901, 0.951, 0.925, 0.948, 0.899, 0.962, 0.931, 0.915])
    b = a - np.array([0.011, 0.024, -0.003, 0.016, 0.031, 0.007, -0.012, 0.021, 0.026, 0.005])
    res = wilcoxon(a, b)
    assert res.method == "exact"
    assert res.p_value == pytest.approx(enumerated_p(a - b, "wilcox"), abs=1e-12)
    # statistic: the smaller signed-rank sum; ranks of |d|: negatives -0.003 -> 1, -0.012 -> 5
    assert res.statistic == 6.0
    assert (res.n_a_better, res.n_b_better, res.n_ties) == (8, 2, 0)


@pytest.mark.parametrize("zero_method", ["zsplit", "wilcox", "pratt"])
@pytest.mark.parametrize(
    ("correct_a", "correct_b"),
    [
        # Test rows right out of 60 on each fold: coarse scores, so tied differences and zeros.
        ([52, 55, 50, 57, 53, 56, 51, 58, 54, 52], [51, 53, 50, 56, 51, 56, 52, 56, 52, 50]),
        # Here floating point splits the tied 2/60 differences, which moves SciPy's p from 0.23 to 0.16.
        ([54, 53, 54, 58, 51, 56, 55, 48], [54, 50, 53, 60, 49, 54, 52, 49]),
    ],
)
def test_wilcoxon_with_ties_and_zeros_matches_full_enumeration(zero_method, correct_a, correct_b):
    correct_a, correct_b = np.array(correct_a), np.array(correct_b)
    d = correct_a - correct_b  # exact integer differences for the oracle
    assert np.any(d == 0) and len(np.unique(np.abs(d[d != 0]))) < np.sum(d != 0)
    res = wilcoxon(correct_a / 60, correct_b / 60, zero_method=zero_method)
    assert res.method.startswith("exact (all sign flips")
    assert res.p_value == pytest.approx(enumerated_p(d, zero_method), abs=1e-12)
    assert res.n_ties == np.sum(d == 0) and res.n_a_better == np.sum(d > 0) and res.n_b_better == np.sum(d < 0)


def test_all_pairs_one_way_gives_the_textbook_minimum_p():
    a = np.arange(10) / 100 + 0.9
    b = a - np.arange(1, 11) / 1000
    res = wilcoxon(a, b)
    assert res.p_value == pytest.approx(2 / 2**10)
    assert res.effect_size == 1.0
    assert res.significant and res.better == "A"


def test_five_pairs_can_never_be_significant_and_the_verdict_says_so():
    a = np.array([0.90, 0.91, 0.92, 0.93, 0.94])
    res = wilcoxon(a + 0.01 * np.arange(1, 6), a, names=("net", "logistic"))
    assert res.p_value == pytest.approx(0.0625) and res.min_p_value == pytest.approx(0.0625)
    assert "cannot tell" in res.verdict and "could well be chance" not in res.verdict
    assert any("2/2^5 = 0.0625" in w and "at least 6" in w for w in res.warnings)
    six = wilcoxon(np.append(a, 0.95) + 0.01 * np.arange(1, 7), np.append(a, 0.95))
    assert six.p_value == pytest.approx(2 / 64)
    assert six.warnings == [] and "unlikely to be chance" in six.verdict


def test_zero_differences_reduce_what_can_be_shown():
    # 7 folds but only 5 differ: still cannot reach p < 0.05.
    a = np.array([0.9, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95])
    b = a - np.array([0, 0, 0.01, 0.02, 0.03, 0.04, 0.05])
    res = wilcoxon(a, b, zero_method="wilcox")
    assert res.p_value == pytest.approx(0.0625)
    assert res.min_p_value == pytest.approx(0.0625) and "cannot tell" in res.verdict


def test_scores_on_any_scale_give_the_same_test_and_their_own_differences():
    rng = np.random.default_rng(3)
    a = rng.normal(-3000, 50, 9)  # e.g. negative mean squared errors
    b = a - rng.normal(20, 15, 9)
    big, small = wilcoxon(a, b, metric="neg_mean_squared_error"), wilcoxon(a / 1000, b / 1000, metric="neg_mean_squared_error")
    assert big.p_value == pytest.approx(small.p_value) and big.statistic == small.statistic
    assert big.mean_difference == pytest.approx(np.mean(a - b))
    assert big.ci_low < np.mean(a - b) < big.ci_high
    constant = wilcoxon([10.0, 20.0, 30.0], [8.0, 18.0, 28.0], metric="r2")
    assert constant.ci_low == constant.ci_high == pytest.approx(2.0) == constant.mean_difference


def test_equal_means_name_no_winner():
    res = wilcoxon([0.9, 0.8, 0.7, 0.6], [0.8, 0.9, 0.6, 0.7], names=("a", "b"))
    assert res.better is None and not res.significant
    assert res.verdict.startswith("a and b have the same mean accuracy; a is better on 2 and b on 2 of 4 folds")


def test_identical_scores_have_nothing_to_test():
    a = [0.9, 0.8, 0.85]
    res = wilcoxon(a, a)
    assert res.p_value == 1.0 and not res.significant and res.better is None
    assert "exactly the same on all 3 folds" in res.verdict


def test_rank_biserial_effect_size_by_hand():
    # d = [1, -2, 3, 4] -> ranks 1..4; (1 + 3 + 4 - 2) / 10
    res = wilcoxon([1, 0, 3, 4], [0, 2, 0, 0], metric="r2")
    assert res.effect_size == pytest.approx(0.6)


def test_confidence_interval_is_scipys_paired_t_and_the_corrected_one_is_wider():
    rng = np.random.default_rng(1)
    a = rng.normal(0.90, 0.02, 10)
    b = a - rng.normal(0.01, 0.01, 10)
    plain = wilcoxon(a, b)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (plain.ci_low, plain.ci_high) == pytest.approx((ci.low, ci.high))
    assert not plain.ci_corrected
    assert (wilcoxon(a, b, test_train_ratio=0.0).ci_low) == pytest.approx(ci.low)
    corrected = wilcoxon(a, b, test_train_ratio=0.25)  # 5-fold: n_test / n_train = 1/4
    d = a - b
    half = stats.t.ppf(0.975, 9) * np.sqrt(np.var(d, ddof=1) * (1 / 10 + 0.25))  # Nadeau & Bengio (2003)
    assert (corrected.ci_low, corrected.ci_high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert corrected.ci_high - corrected.ci_low > plain.ci_high - plain.ci_low


def test_verdict_names_the_better_model_in_either_direction():
    a = np.linspace(0.80, 0.85, 8)
    b = a + np.linspace(0.01, 0.03, 8)
    res = wilcoxon(a, b, names=("logistic", "net"))
    assert res.better == "net" and res.verdict.startswith("net is better than logistic on 8 of 8 folds")
    assert "+2.0 points" in res.verdict
    losses = wilcoxon(a, b, names=("logistic", "net"), metric="log_loss", higher_is_better=False)
    assert losses.better == "logistic" and losses.verdict.startswith("logistic is better than net")
    assert "lower" in losses.verdict


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [([0.9, 0.8], [0.9], "same order"), ([0.9], [0.8], "at least 2"), ([0.9, np.nan], [0.8, 0.7], "NaN")],
)
def test_wilcoxon_rejects_bad_scores(a, b, match):
    with pytest.raises(DataError, match=match):
        wilcoxon(a, b)


def test_wilcoxon_rejects_bad_settings():
    with pytest.raises(ConfigError, match="alpha"):
        wilcoxon([1, 2], [0, 1], alpha=2)
    with pytest.raises(ConfigError, match="names"):
        wilcoxon([1, 2], [0, 1], names=("A", "A"))


# ---------------------------------------------------------------------- Holm
def test_holm_textbook_values():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])
    with pytest.raises(DataError):
        holm([0.1, 1.5])


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.array([0.001, 0.2, 0.013, 0.04, 0.04, 0.6])
    np.testing.assert_allclose(holm(p), multitest.multipletests(p, method="holm")[1])


# ---------------------------------------------------------------------- McNemar
def test_mcnemar_hand_computed_table_exact_and_chi_square():
    y, pa, pb = predictions_for_table(both=70, a_only=10, b_only=2, neither=18)
    exact = mcnemar(y, pa, pb, names=("net", "logistic"))
    assert exact.table == ((70, 10), (2, 18)) and exact.exact  # 12 disagreements < 25: exact by default
    # 2 * P(X <= 2), X ~ Binomial(12, 1/2) = 2 * (1 + 12 + 66) / 4096
    assert exact.p_value == pytest.approx(158 / 4096)
    assert exact.statistic == 2
    assert exact.better == "net" and exact.verdict.startswith("net is right on 10 test rows where logistic is wrong")
    assert (exact.accuracy_a, exact.accuracy_b) == (0.80, 0.72)
    chi = mcnemar(y, pa, pb, exact=False)
    assert chi.statistic == pytest.approx((10 - 2 - 1) ** 2 / 12)  # 49 / 12
    assert chi.p_value == pytest.approx(chi2_1_sf(49 / 12))
    assert any("chi-square approximation is poor" in w for w in chi.warnings)


def test_mcnemar_large_table_uses_chi_square():
    # Agresti's presidential-approval table: 150 vs 86 discordant pairs.
    y, pa, pb = predictions_for_table(both=794, a_only=150, b_only=86, neither=570)
    res = mcnemar(y, pa, pb)
    assert not res.exact and res.method == "chi-square with continuity correction"
    assert res.statistic == pytest.approx(63**2 / 236)
    assert res.p_value == pytest.approx(chi2_1_sf(63**2 / 236))
    assert res.significant and res.warnings == []


def test_mcnemar_matches_statsmodels():
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    for table, exact in [((70, 10, 2, 18), True), ((794, 150, 86, 570), False), ((30, 7, 3, 5), True)]:
        y, pa, pb = predictions_for_table(*table)
        ours = mcnemar(y, pa, pb, exact=exact)
        theirs = contingency.mcnemar(np.array(table).reshape(2, 2), exact=exact, correction=True)
        assert ours.p_value == pytest.approx(theirs.pvalue)
        assert ours.statistic == pytest.approx(theirs.statistic)


def test_mcnemar_small_disagreement_warning_and_no_disagreement():
    y, pa, pb = predictions_for_table(both=90, a_only=5, b_only=0, neither=5)
    res = mcnemar(y, pa, pb)
    assert res.p_value == pytest.approx(0.0625)
    assert "cannot tell" in res.verdict and any("2/2^5" in w for w in res.warnings)
    same = mcnemar(y, pa, pa)
    assert same.p_value == 1.0 and "exactly the same 100 test rows" in same.verdict
    balanced = mcnemar(*predictions_for_table(50, 20, 20, 10), exact=False)
    assert balanced.statistic == 0.0 and balanced.p_value == 1.0


def test_mcnemar_rejects_mismatched_lengths():
    with pytest.raises(DataError, match="one prediction"):
        mcnemar([0, 1, 1], [0, 1], [0, 1, 1])
    with pytest.raises(ConfigError, match="exact"):
        mcnemar([0, 1], [0, 1], [1, 1], exact="yes")


# ---------------------------------------------------------------------- compare()
@pytest.fixture(scope="module")
def iris_comparison():
    X, y = load_iris(return_X_y=True)
    models = {"logistic": LogisticRegression(max_iter=1000), "dummy": DummyClassifier()}
    return X, y, compare(models, X, y)


def test_compare_pairs_scores_by_fold(iris_comparison):
    X, y, result = iris_comparison
    assert isinstance(result, CompareResult) and result.method == "wilcoxon"
    assert result.scores.shape == (10, 2) and list(result.scores.columns) == ["logistic", "dummy"]
    # Fold 3 of the default design, recomputed by hand.
    train, test = list(RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0).split(X, y))[3]
    model = LogisticRegression(max_iter=1000, random_state=3).fit(X[train], y[train])
    assert result.scores.loc[3, "logistic"] == pytest.approx(model.score(X[test], y[test]))
    assert np.allclose(result.scores["dummy"], 1 / 3)
    assert result.test_train_ratio == pytest.approx(0.25)
    test_ = result.test("dummy", "logistic")
    assert test_.p_value == pytest.approx(stats.wilcoxon(result.scores["logistic"], result.scores["dummy"], zero_method="zsplit").pvalue)
    assert result.winner == "logistic" and result.best == "logistic"
    text = str(result)
    assert text.splitlines()[0].startswith("Compared 2 models on 10 folds (stratified 5-fold")
    assert "logistic is better than dummy on 10 of 10 folds" in text


def test_three_models_get_holm_adjusted_p_values():
    X, y = load_iris(return_X_y=True)
    models = {"logistic": LogisticRegression(max_iter=1000), "tree": DecisionTreeClassifier(), "dummy": DummyClassifier()}
    result = compare(models, X, y)
    assert len(result.tests) == 3
    raw = [t.p_value for t in result.tests]
    np.testing.assert_allclose([t.p_adjusted for t in result.tests], holm(raw))
    assert all(t.n_comparisons == 3 and t.p_adjusted >= t.p_value for t in result.tests)
    assert "Holm-adjusted for 3 comparisons" in result.verdict
    assert result.verdict.splitlines()[0].startswith(result.best)


class SeedScorer(ClassifierMixin, BaseEstimator):
    """Scores exactly its random_state: shows which seed each fold gave it."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])



def seed_of(est, X, y):
    """A scorer that returns the seed the (possibly nested) SeedScorer was fitted with."""
    seed = next(v for k, v in est.get_params().items() if k.endswith("random_state"))
    return -1.0 if seed is None else float(seed)


def test_every_fold_gets_its_own_seed_shared_by_all_models():
    X, y = load_iris(return_X_y=True)
    models = {"plain": SeedScorer(random_state=99), "piped": make_pipeline(StandardScaler(), SeedScorer())}
    result = compare(models, X, y, scoring=seed_of, random_state=5)
    assert result.scores["plain"].tolist() == list(range(5, 15))
    assert result.scores["piped"].tolist() == list(range(5, 15))
    kept = compare(models, X, y, scoring=seed_of, vary_seeds=False)
    assert kept.scores["plain"].eq(99.0).all() and kept.scores["piped"].eq(-1.0).all()


def test_regressors_default_to_r2_and_int_cv_means_seeds():
    X, y = load_diabetes(return_X_y=True)
    result = compare({"ridge": Ridge(), "dummy": DummyRegressor()}, X, y, cv=6, test_size=0.2)
    assert result.metric == "r2" and result.scores.index.name == "seed" and len(result.scores) == 6
    assert "6 seeds" in result.design
    assert result.best == "ridge" and result.scores["dummy"].max() < 0.01
    assert result.test_train_ratio == pytest.approx(0.25, rel=0.01)
    assert "ridge is better than dummy on 6 of 6 seeds" in result.verdict


def test_single_split_uses_mcnemar():
    X, y = load_iris(return_X_y=True)
    result = compare({"logistic": LogisticRegression(max_iter=1000), "dummy": DummyClassifier()}, X, y, single=True, test_size=0.4)
    assert result.method == "mcnemar" and len(result.scores) == 1
    t = result.tests[0]
    assert sum(map(sum, t.table)) == 60 == len(result.predictions)
    acc = (result.predictions["logistic"] == result.predictions["y_true"]).mean()
    assert t.accuracy_a == pytest.approx(acc) == pytest.approx(result.scores.loc[0, "logistic"])
    assert t.significant and result.winner == "logistic"
    assert any("One train/test split" in n for n in result.notes)


@pytest.mark.parametrize(
    ("models", "kwargs", "error", "match"),
    [
        ({"only": DummyClassifier()}, {}, ConfigError, "at least 2"),
        ({"a": DummyClassifier(), "b": DummyRegressor()}, {}, ConfigError, "mix classifiers"),
        ({"a": DummyClassifier(), "b": object()}, {}, ConfigError, "not a scikit-learn estimator"),
        ({"a": DummyClassifier(), "b": DummyClassifier()}, {"scoring": "accuracyy"}, ConfigError, "Unknown scoring"),
        ({"a": DummyRegressor(), "b": Ridge()}, {"single": True}, ConfigError, "needs classifiers"),
        ({"a": DummyClassifier(), "b": DummyClassifier()}, {"cv": 1}, ConfigError, "too few"),
    ],
)
def test_compare_rejects_bad_setups(models, kwargs, error, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(error, match=match):
        compare(models, X, y, **kwargs)


def test_compare_rejects_mismatched_data():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(DataError, match="150 rows but y has 149"):
        compare({"a": DummyClassifier(), "b": DummyClassifier()}, X, y[:-1])


def test_confirm_is_compare_on_repeated_folds():
    X, y = load_iris(return_X_y=True)
    models = {"trial 1": LogisticRegression(C=1.0, max_iter=1000), "trial 2": LogisticRegression(C=0.001, max_iter=1000)}
    result = confirm(models, X, y, StratifiedKFold(5))
    assert result.method == "wilcoxon" and len(result.scores) == 5
    assert result.best == "trial 1"
    assert result.winner is None  # 5 folds can never reach p < 0.05
    assert "cannot tell" in result.verdict


# ---------------------------------------------------------------------- plot
def test_plot_draws_one_line_per_fold(iris_comparison):
    _, _, result = iris_comparison
    fig = plot_scores(result)
    ax = fig.axes[0]
    assert len(ax.lines) == len(result.scores)
    np.testing.assert_allclose(ax.lines[4].get_ydata(), result.scores.iloc[4].to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["logistic", "dummy"]
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(DataError):
        plot_scores(pd.DataFrame())


# ---------------------------------------------------------------------- CLI
def test_model_specs():
    assert parse_model_spec("net=trainwell:hidden=256,128;lr=0.001") == ("net", "trainwell", {"hidden": (256, 128), "lr": 0.001})
    assert parse_model_spec("logistic") == ("logistic", "logistic", {})
    assert parse_model_spec("trainwell:activation=tanh;batchnorm=false") == ("trainwell", "trainwell", {"activation": "tanh", "batchnorm": False})
    name, est = build_model("net=trainwell:hidden=64;lr=0.01", "classification")
    assert name == "net" and isinstance(est, NeuralNetClassifier) and est.hidden == (64,) and est.lr == 0.01
    _, svc = build_model("svc=sklearn.svm.SVC:C=10", "classification")
    assert type(svc).__name__ == "SVC" and svc.C == 10
    with pytest.raises(ConfigError, match="has no parameter lrr"):
        build_model("trainwell:lrr=1", "classification")
    with pytest.raises(ConfigError, match="Unknown model kind"):
        build_model("sklearn.nothing.Here", "classification")
    with pytest.raises(ConfigError, match="classifier only"):
        build_model("logistic", "regression")
    with pytest.raises(ConfigError, match="key=value"):
        parse_model_spec("trainwell:hidden")


def test_cli_compare_prints_the_verdict(tmp_path, capsys):
    X, y = load_iris(return_X_y=True, as_frame=True)
    frame = X.assign(species=np.array(["setosa", "versicolor", "virginica"])[y])
    csv = tmp_path / "iris.csv"
    frame.to_csv(csv, index=False)
    parser = argparse.ArgumentParser(prog="trainwell")
    add_parser(parser.add_subparsers())
    args = parser.parse_args([
        "compare", str(csv), "--target", "species", "--model", "logistic", "--model", "base=dummy",
        "--folds", "3", "--repeats", "2", "--scores", str(tmp_path / "s.csv"), "--plot", str(tmp_path / "p.png"),
    ])
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert "6 folds (stratified 3-fold cross-validation repeated 2 times)" in out.out
    assert "logistic is better than base on 6 of 6 folds" in out.out
    assert "fold 6/6" in out.err
    scores = pd.read_csv(tmp_path / "s.csv", index_col=0)
    assert scores.shape == (6, 2) and scores["base"].between(0.3, 0.35).all()  # the prior on 50 test rows
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_cli_rejects_duplicate_names(tmp_path):
    csv = tmp_path / "d.csv"
    pd.DataFrame({"x": range(20), "y": [0, 1] * 10}).to_csv(csv, index=False)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["compare", str(csv), "--target", "y", "--model", "dummy", "--model", "dummy"])
    with pytest.raises(ConfigError, match="Two models are called 'dummy'"):
        args.func(args)


# ---------------------------------------------------------------------- end to end
def test_trainwell_network_against_logistic_regression_on_digits():
    """compare() pits a trainwell network against logistic regression fold by fold: each fold's
    score is a network trained on that fold's rows with that fold's seed, and the test, the
    better model and the verdict follow from those paired scores."""
    X, y = load_digits(return_X_y=True)
    net = NeuralNetClassifier(hidden=(64,), max_epochs=20, batch_size=256, lr=3e-3, device="cpu")
    models = {"net": net, "logistic": LogisticRegression(max_iter=2000)}
    # 2-fold x 3 repeats: 6 paired folds at half the training cost of 3-fold (about 3 s on one core).
    cv = RepeatedStratifiedKFold(n_splits=2, n_repeats=3, random_state=0)
    result = compare(models, X, y, cv=cv)
    scores = result.scores
    assert scores.shape == (6, 2) and list(scores.columns) == ["net", "logistic"]
    assert scores.min().min() > 0.85  # both really learn the digits
    # fold 4's network by hand: the fold's training rows and the fold's seed (random_state 0 + fold 4)
    train, test = list(cv.split(X, y))[4]
    by_hand = clone(net).set_params(random_state=4).fit(X[train], y[train])
    assert scores.loc[4, "net"] == pytest.approx(by_hand.score(X[test], y[test]), abs=1e-12)
    assert scores["net"].nunique() > 1  # each fold trained its own network

    # the paired test is on these scores...
    t = result.test("net", "logistic")
    assert t.names == ("net", "logistic")
    diff = scores["net"] - scores["logistic"]
    assert (t.n_a_better, t.n_b_better, t.n_ties) == ((diff > 0).sum(), (diff < 0).sum(), (diff == 0).sum())
    assert t.mean_difference == pytest.approx(diff.mean())
    assert t.p_value == pytest.approx(stats.wilcoxon(scores["net"], scores["logistic"], zero_method="zsplit").pvalue)
    assert t.min_p_value == pytest.approx(2 / 2 ** (t.n_a_better + t.n_b_better))
    # ...and the verdict names the model with the higher mean accuracy, with its count of won folds,
    # and calls it the winner only when the test says so
    better, worse = ("net", "logistic") if diff.mean() > 0 else ("logistic", "net")
    wins = int((diff > 0).sum() if better == "net" else (diff < 0).sum())
    assert result.best == t.better == better
    assert f"{better} is better than {worse} on {wins} of 6 folds" in result.verdict
    assert result.winner == (better if t.p_value < result.alpha else None)
    assert result.test_train_ratio == pytest.approx(1.0, rel=0.01)
    assert (result.fit_seconds > 0).all().all()
    assert str(result).splitlines()[0].startswith("Compared 2 models on 6 folds")
