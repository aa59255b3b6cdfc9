"""The learning-rate range test: repeatable, smoothed, plotted, honest when unclear."""

from __future__ import annotations

import numpy as np
import pytest

from trainwell import NeuralNetClassifier
from trainwell.exceptions import ConfigError
from trainwell.tune import lr_find
from trainwell.tune.lrfind import _read_curve, summarise


def _net():
    return NeuralNetClassifier(hidden=(16,))


def test_same_seed_same_curve_and_answer(iris):
    X, y = iris
    a = lr_find(_net(), X, y, num_steps=60, repeats=1, random_state=3)
    b = lr_find(_net(), X, y, num_steps=60, repeats=1, random_state=3)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert a.suggestion == b.suggestion and a.message == b.message
    c = lr_find(_net(), X, y, num_steps=60, repeats=1, random_state=4)
    assert not np.array_equal(a.losses, c.losses, equal_nan=True)


def test_clear_answer_on_iris(iris, tmp_path):
    X, y = iris
    result = lr_find(_net(), X, y, num_steps=100, repeats=2, plot=tmp_path / "lr.png")
    assert result.clear, result.message
    assert 1e-4 < result.lr < 1.0
    assert result.message.startswith("Suggested learning rate")
    # the lrs grow exponentially over the range
    assert result.lrs[0] == pytest.approx(1e-7) and result.lrs[-1] == pytest.approx(10.0)
    np.testing.assert_allclose(np.diff(np.log(result.lrs)), np.log(1e8) / 99)
    assert (tmp_path / "lr.png").stat().st_size > 10_000
    # the suggestion lies a decade below each repeat's smoothed minimum
    for i in range(2):
        i_min = np.nanargmin(result.smoothed[i])
        assert result.suggestions[i] == pytest.approx(result.lrs[i_min] / 10)
    # the trained network can use it: a fit with the suggested lr learns
    assert _net().set_params(lr=result.lr, random_state=0, max_epochs=30).fit(X, y).score(X, y) > 0.9


def test_no_clear_answer_when_the_range_is_too_low(iris):
    X, y = iris
    result = lr_find(_net(), X, y, start_lr=1e-7, end_lr=1e-5, num_steps=40, repeats=1)
    assert result.suggestion is None and not result.clear
    assert "did not go down" in result.message and "raise end_lr" in result.message
    with pytest.raises(ConfigError, match="No clear answer"):
        _ = result.lr  # never a silent None that crashes the next fit


def _synthetic(lrs: np.ndarray, minimum_at: float) -> np.ndarray:
    """A range-test-shaped curve: flat, falling, lowest near ``minimum_at``, then blowing up."""
    x = np.log10(lrs) - np.log10(minimum_at)
    return 2.3 - 2.0 / (1 + np.exp(-3 * (x + 1.5))) + np.where(x > 0, 10 * x**2, 0)


def test_reading_a_synthetic_curve():
    lrs = 1e-7 * (1e8) ** (np.arange(200) / 199)
    rng = np.random.default_rng(0)
    losses = _synthetic(lrs, 1e-2) + rng.normal(0, 0.05, lrs.size)
    smoothed, suggestion, why = _read_curve(lrs, losses, sigma=3.0, diverge=4.0)
    assert why is None
    assert suggestion == pytest.approx(1e-3, rel=0.6)  # a decade below the minimum at 1e-2
    # the centred smoothing does not shift the minimum towards larger rates
    assert abs(np.log10(lrs[np.nanargmin(smoothed)]) - np.log10(1e-2)) < 0.25
    # a curve still falling at the end of the range has no answer
    falling = 2.3 - 2.0 * np.arange(200) / 199
    assert "still going down" in _read_curve(lrs, falling, 3.0, 4.0)[2]
    # nor does one that is NaN from the start
    assert "not a number" in _read_curve(lrs, np.full(200, np.nan), 3.0, 4.0)[2]


def test_repeats_must_agree():
    value, message = summarise([1e-3, 1.5e-3, 2e-3], [])
    assert value == pytest.approx(1.4e-3) and "agree within a factor of 2.0" in message
    value, message = summarise([1e-4, 1e-3, 2e-3], [])
    assert value is None and "differ by a factor of 20" in message
    value, message = summarise([1e-3, None], ["the loss did not go down"])
    assert value is None and message.startswith("No clear answer: the loss did not go down")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"start_lr": 1.0, "end_lr": 0.1}, "0 < start_lr < end_lr"),
        ({"num_steps": 5}, "num_steps=5"),
        ({"repeats": 0}, "repeats=0"),
        ({"diverge": 1.0}, "diverge=1.0"),
    ],
)
def test_bad_arguments(iris, kwargs, words):
    X, y = iris
    with pytest.raises(ConfigError) as info:
        lr_find(_net(), X, y, **kwargs)
    assert words in str(info.value)
