"""Findings about the data made after fit: text columns with a value per row (identifiers, dates as text),
and too few rows to hold out a validation split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trainwell import NeuralNetRegressor
from trainwell.data.features import FeatureTransform
from trainwell.diagnose.fitted_data import identifier_columns


def _table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2010-01-01", periods=n, freq="h")
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue"], size=n),        # a real category
        "when": hours.astype(str),                                      # a date written as text
        "id": [f"row-{i:05d}" for i in range(n)],                       # an identifier
    })


def test_identifier_and_date_columns_are_named_and_real_categories_are_not():
    X = _table()
    transform = FeatureTransform().fit(X)
    (found,) = identifier_columns(transform, len(X))
    assert found.code == "identifier_like_column" and found.severity == "warning"
    assert set(found.evidence["columns"]) == {"when", "id"} and found.evidence["dates"] == ["when"]
    assert "'when' holds dates or times" in found.message and "day of the year" in found.advice
    # below the share (a value per ~3 rows) or with few values, a text column is a category
    assert identifier_columns(FeatureTransform().fit(X[["x", "colour"]]), len(X)) == []
    assert identifier_columns(transform, 10_000) == []
    # numbers written as text are not called dates, with or without separators (an unseen table's
    # '1.707,400' and '3,504' once were), and month names are
    numbers = pd.DataFrame({"code": [str(10_000 + i) for i in range(100)],
                            "amount": [f"{i},{i % 1000:03d}" for i in range(1, 101)],
                            "european": [f"1.{i:03d},4" for i in range(100)],
                            "month": pd.date_range("2020-01-01", periods=100).strftime("%d %b %Y").tolist()})
    (as_text,) = identifier_columns(FeatureTransform().fit(numbers), 100)
    assert set(as_text.evidence["columns"]) == {"code", "amount", "european", "month"}
    assert as_text.evidence["dates"] == ["month"] and "day of the year" in as_text.advice


def test_a_fit_with_an_identifier_column_says_so_in_its_findings():
    X = _table(120)
    y = X["x"].to_numpy() * 2.0
    model = NeuralNetRegressor(random_state=0, max_epochs=3).fit(X, y)
    found = [f for f in model.findings_ if f.code == "identifier_like_column"]
    assert len(found) == 1 and set(found[0].evidence["columns"]) == {"when", "id"}
    assert found[0].evidence["n_rows"] == model.n_train_
    clean = NeuralNetRegressor(random_state=0, max_epochs=3).fit(X[["x", "colour"]], y)
    assert not [f for f in clean.findings_ if f.code == "identifier_like_column"]


def test_too_few_rows_for_a_validation_split_is_said_when_early_stopping_was_asked_for():
    X, y = np.arange(12.0).reshape(-1, 1), np.arange(12.0)
    model = NeuralNetRegressor(random_state=0, max_epochs=5).fit(X, y)
    found = [f for f in model.findings_ if f.code == "too_few_rows"]
    assert len(found) == 1 and found[0].severity == "warning" and "Only 12 rows" in found[0].message
    assert model.n_val_ == 0 and model.n_iter_ == 5  # no validation rows: every epoch ran
    # not when early stopping is off (nothing was dropped), nor when 5 rows can be held out
    off = NeuralNetRegressor(random_state=0, max_epochs=5, early_stopping=False).fit(X, y)
    assert "too_few_rows" not in {f.code for f in off.findings_}
    enough = NeuralNetRegressor(random_state=0, max_epochs=5).fit(np.arange(60.0).reshape(-1, 1), np.arange(60.0))
    assert "too_few_rows" not in {f.code for f in enough.findings_} and enough.n_val_ >= 5


def test_check_names_identifier_columns_before_training_too():
    from trainwell.diagnose import check

    X = _table(120)
    found = {f.code: f for f in check(NeuralNetRegressor(random_state=0), X, X["x"].to_numpy() * 2.0)}
    assert set(found["identifier_like_column"].evidence["columns"]) == {"when", "id"}


def test_numbers_written_with_separators_as_text_are_named():
    from trainwell.diagnose.fitted_data import numbers_as_text

    # an unseen table read with the wrong decimal mark: '12,0', '2.710,349' stayed text and became categories
    X = pd.DataFrame({"rate": ["12,0", "5,8", "6,1", "12,0"], "gdp": ["2.710,349", "2.778,801", "2.775,488", "1,5"],
                      "klass": ["1", "2", "3", "1"], "name": ["a", "b", "c", "d"]})
    (found,) = numbers_as_text(FeatureTransform().fit(X))
    assert found.code == "numbers_as_text" and found.evidence["columns"] == ["rate", "gdp"]
    assert "'rate' (e.g. '12,0')" in found.message and "decimal=','" in found.advice
    # whole numbers as text are left alone (they may be classes on purpose), and so is plain text
    assert numbers_as_text(FeatureTransform().fit(X[["klass", "name"]])) == []
    model = NeuralNetRegressor(random_state=0, max_epochs=2).fit(pd.concat([X] * 10, ignore_index=True), np.arange(40.0))
    assert "numbers_as_text" in {f.code for f in model.findings_}
