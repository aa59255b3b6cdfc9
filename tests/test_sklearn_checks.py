"""The estimators pass scikit-learn's own estimator checks."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from trainwell import NeuralNetClassifier, NeuralNetRegressor

# Small and quick, but otherwise the defaults: the checks fit dozens of times.
ESTIMATORS = [
    NeuralNetClassifier(max_epochs=60, device="cpu"),
    NeuralNetRegressor(max_epochs=60, device="cpu"),
]

# Every check passes; none is marked as an expected failure.
EXPECTED_FAILED: dict[str, dict[str, str]] = {}


def _expected_failed(estimator):
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed)
def test_sklearn_compatible(estimator, check):
    check(estimator)
