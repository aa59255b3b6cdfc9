"""The border warning, on random searches over synthetic objectives (no training)."""

from __future__ import annotations

import math

import optuna
import pytest

from trainwell.tune.border import check_borders, widen
from trainwell.tune.objective import TrialSeededRandomSampler
from trainwell.tune.space import Range, parse_space, suggest

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"lr": (1e-5, 1e-1, "log"), "dropout": (0.0, 0.5), "momentum": (0.5, 0.9)}


def _search(best_lr: float, best_momentum: float, n: int = 150) -> dict:
    """Random search over SPACE on a bowl whose minimum is at (best_lr, best_momentum, dropout 0.25)."""
    searched, _ = parse_space(SPACE)

    def objective(trial):
        p = suggest(trial, searched)
        return ((math.log10(p["lr"]) - math.log10(best_lr)) ** 2 + 10 * (p["momentum"] - best_momentum) ** 2
                + 4 * (p["dropout"] - 0.25) ** 2)

    study = optuna.create_study(sampler=TrialSeededRandomSampler(1))
    study.optimize(objective, n_trials=n)
    return study.best_params


def test_no_warning_when_the_optimum_is_inside():
    best = _search(best_lr=1e-3, best_momentum=0.7)
    assert check_borders(best, parse_space(SPACE)[0]) == []


def test_warning_when_the_learning_rate_optimum_is_below_the_range():
    searched = parse_space(SPACE)[0]
    best = _search(best_lr=1e-7, best_momentum=0.7)
    warnings = check_borders(best, searched)
    assert [w.param for w in warnings] == ["lr"]
    w = warnings[0]
    assert w.side == "low"
    # outer 10 % of the *log* range: below 10**-4.6
    assert math.log10(best["lr"]) < -4.6
    assert w.suggested[0] < 1e-5 and w.suggested[1] == 1e-1
    assert "lr" in w.message and "widen the range to 1e-07 … 0.1" in w.message and "log range" in w.message


def test_warning_on_a_linear_parameter_above_its_range():
    searched = parse_space(SPACE)[0]
    best = _search(best_lr=1e-3, best_momentum=0.99)
    warnings = check_borders(best, searched)
    assert [w.param for w in warnings] == ["momentum"]
    assert warnings[0].side == "high"
    assert warnings[0].suggested == (0.5, pytest.approx(0.999))  # never past momentum's natural limit
    assert widen(searched, warnings)["momentum"] == Range("momentum", 0.5, 0.999)


def test_the_border_is_measured_on_the_log_scale():
    searched = parse_space({"lr": (1e-5, 1e-1, "log")})[0]
    # 3e-5 is in the lowest 1 % of the linear interval but at 12 % of the log interval: no warning
    assert check_borders({"lr": 3e-5}, searched) == []
    assert [w.side for w in check_borders({"lr": 2e-5}, searched)] == ["low"]
    assert [w.side for w in check_borders({"lr": 0.05}, searched)] == ["high"]


def test_no_warning_at_a_natural_limit():
    # dropout 0.01 is on the lower border of 0 … 0.5, but there is nothing below 0 to try
    searched = parse_space({"dropout": (0.0, 0.5)})[0]
    assert check_borders({"dropout": 0.01}, searched) == []
    assert [w.side for w in check_borders({"dropout": 0.49}, searched)] == ["high"]


def test_choices_never_warn():
    searched = parse_space({"hidden": [(64,), (128,)]})[0]
    assert check_borders({"hidden": (64,)}, searched) == []


def test_a_winning_baseline_outside_the_range_says_the_range_missed_it():
    """Trial 0 trains the estimator's own settings; when its lr (1e-3) lies above a searched
    1e-7 … 1e-5 and wins, the warning says so instead of calling 1e-3 "the highest 10 %"."""
    from trainwell.tune.border import check_borders
    from trainwell.tune.space import Range

    (warning,) = check_borders({"lr": 1e-3}, {"lr": Range("lr", 1e-7, 1e-5, True, False)})
    assert "outside the searched range" in warning.message and "too low" in warning.message
    assert "highest 10" not in warning.message
    low, high = warning.suggested
    assert low <= 1e-7 and high > 1e-3  # the suggested range reaches past the winner
    (below,) = check_borders({"lr": 1e-9}, {"lr": Range("lr", 1e-7, 1e-5, True, False)})
    assert "too high" in below.message and below.suggested[0] < 1e-9
