"""Property-based tests of the data layer: random shapes, dtypes, missing values and label
types either train or fail with trainwell's documented error, never an internal exception."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.exceptions import TrainwellError

FAST = {"max_epochs": 1, "hidden": (4,), "device": "cpu", "random_state": 0}


@st.composite
def tables(draw):
    n = draw(st.integers(0, 25))
    n_cols = draw(st.integers(0, 4))
    columns = {}
    for j in range(n_cols):
        kind = draw(st.sampled_from(["float", "int", "bool", "text", "float_nan", "inf", "mixed"]))
        if kind == "float":
            col = draw(st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n))
        elif kind == "int":
            col = draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n))
        elif kind == "bool":
            col = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        elif kind == "text":
            col = draw(st.lists(st.sampled_from(["a", "b", "c", ""]), min_size=n, max_size=n))
        elif kind == "float_nan":
            col = draw(st.lists(st.one_of(st.floats(-5, 5), st.just(float("nan"))), min_size=n, max_size=n))
        elif kind == "inf":
            col = draw(st.lists(st.sampled_from([1.0, float("inf"), -float("inf")]), min_size=n, max_size=n))
        else:
            col = draw(st.lists(st.one_of(st.integers(0, 3), st.sampled_from(["x", "y"])), min_size=n, max_size=n))
        columns[f"c{j}"] = col
    frame = pd.DataFrame(columns, index=range(n))
    label_kind = draw(st.sampled_from(["int", "str", "bool", "float", "nan", "one"]))
    if label_kind == "int":
        y = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    elif label_kind == "str":
        y = draw(st.lists(st.sampled_from(["cat", "dog", "eel"]), min_size=n, max_size=n))
    elif label_kind == "bool":
        y = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    elif label_kind == "float":
        y = draw(st.lists(st.floats(-10, 10), min_size=n, max_size=n))
    elif label_kind == "nan":
        y = draw(st.lists(st.one_of(st.integers(0, 1), st.just(float("nan"))), min_size=n, max_size=n))
    else:
        y = [1] * n
    as_array = draw(st.booleans())
    return (frame.to_numpy() if as_array else frame), np.asarray(y, dtype=object if label_kind == "nan" else None)


def _fit_or_documented_error(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(X, y)
        except TrainwellError as exc:
            message = str(exc)
            assert "\n" not in message and message.endswith((".", ")")), message
            return None
    return est


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_classifier_trains_or_fails_with_a_documented_error(data):
    X, y = data
    est = _fit_or_documented_error(NeuralNetClassifier(**FAST), X, y)
    if est is not None:
        pred = est.predict(X)
        assert len(pred) == len(y) and set(pred) <= set(est.classes_)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_regressor_trains_or_fails_with_a_documented_error(data):
    X, y = data
    est = _fit_or_documented_error(NeuralNetRegressor(**FAST), X, y)
    if est is not None:
        assert np.isfinite(est.predict(X)).all()
