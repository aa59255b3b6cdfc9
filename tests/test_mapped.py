"""Training from a memory-mapped .npy file: the same run as in memory, without loading the file."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris

from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.data.mapped import is_memory_mapped, statistics_rows
from trainwell.exceptions import DataError

PARAMS = {"random_state": 0, "max_epochs": 4, "diagnostics": False, "device": "cpu", "hidden": (32,)}


def _mapped(tmp_path, X):
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode="r")


def test_a_mapped_file_trains_exactly_like_the_array_in_memory(tmp_path):
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    mapped = _mapped(tmp_path, X)
    assert is_memory_mapped(mapped)
    a = NeuralNetClassifier(**PARAMS).fit(X, y)
    b = NeuralNetClassifier(**PARAMS).fit(mapped, y)
    assert b.train_config_.prepare is not None and a.train_config_.prepare is None  # b scales batch by batch
    assert a.history_.column("train_loss") == b.history_.column("train_loss")
    assert a.history_.column("val_loss") == b.history_.column("val_loss")
    assert np.array_equal(a.predict_proba(X), b.predict_proba(mapped))


def test_mapped_regression_and_chunked_prediction(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5)).astype(np.float32)
    y = X @ np.arange(1.0, 6.0) + 0.1 * rng.normal(size=600)
    mapped = _mapped(tmp_path, X)
    a = NeuralNetRegressor(**PARAMS).fit(X, y)
    b = NeuralNetRegressor(**PARAMS).fit(mapped, y)
    assert a.history_.column("train_r2") == b.history_.column("train_r2")
    monkeypatch.setattr("trainwell.estimators.base.CHUNK_ROWS", 128)  # predict in 5 chunks
    assert np.allclose(b.predict(mapped), a.predict(X), rtol=0, atol=1e-9)


def test_a_bad_value_deep_in_the_file_is_named(tmp_path):
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    X[137, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        NeuralNetClassifier(**PARAMS).fit(_mapped(tmp_path, X), y)


def test_statistics_come_from_a_sample_of_training_rows_only():
    train = np.arange(0, 1000, 2)
    assert np.array_equal(statistics_rows(train, 0), train)
    sample = statistics_rows(train, 0, limit=100)
    assert len(sample) == 100 and np.isin(sample, train).all() and np.all(np.diff(sample) > 0)
