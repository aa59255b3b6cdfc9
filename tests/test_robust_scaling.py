"""scaling="robust": median / interquartile range (as sklearn's RobustScaler), then smooth clipping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import RobustScaler

from trainwell import NeuralNetClassifier, NeuralNetRegressor, load
from trainwell.data.features import robust_statistics, smooth_clip

QUICK = {"max_epochs": 2, "device": "cpu", "random_state": 0, "early_stopping": False, "scaling": "robust"}


def _skewed(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.lognormal(3, 1.5, n), rng.normal(size=n), rng.integers(0, 3, n).astype(float)])
    X[5, 1] = 400.0  # one far outlier
    return X


def test_smooth_clip_is_the_formula_and_keeps_order():
    x = np.array([-100.0, -3.0, 0.0, 0.5, 3.0, 100.0])
    np.testing.assert_allclose(smooth_clip(x), x / np.sqrt(1 + (x / 3) ** 2))
    assert np.all(np.diff(smooth_clip(x)) > 0) and np.abs(smooth_clip(x)).max() < 3
    assert smooth_clip(np.array([0.1]))[0] == pytest.approx(0.1, rel=1e-3)


def test_statistics_and_transform_equal_robust_scaler_then_clipping():
    X = _skewed()
    y = X[:, 1] + np.log(X[:, 0])
    est = NeuralNetRegressor(**QUICK).fit(X, y)
    oracle = RobustScaler().fit(X)
    t = est.transform_
    assert t.scaling == "robust"
    np.testing.assert_allclose(t.mean, oracle.center_, rtol=1e-6)
    np.testing.assert_allclose(t.scale, oracle.scale_, rtol=1e-6)
    expected = smooth_clip(oracle.transform(X))
    np.testing.assert_allclose(t.transform(X), expected, rtol=1e-5, atol=1e-5)
    assert np.abs(t.transform(X)).max() < 3  # the outlier arrives at about 3, not at hundreds


def test_a_column_with_no_spread_in_its_middle_half_uses_half_its_range():
    X = np.zeros((40, 2))
    X[:3, 0] = [4.0, -2.0, 6.0]  # quartiles all 0: half the range, 4, stands in
    X[:, 1] = 7.0  # constant: divided by 1
    centre, spread = robust_statistics(X, np.array([True, True]))
    assert centre.tolist() == [0.0, 7.0] and spread.tolist() == [4.0, 1.0]


def test_one_hot_and_indicator_columns_stay_zero_or_one():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"price": rng.lognormal(5, 2, 120), "colour": rng.choice(["red", "blue"], 120)})
    frame.loc[[4, 9], "price"] = np.nan
    y = (frame["colour"] == "red").astype(int).to_numpy()
    est = NeuralNetClassifier(**QUICK).fit(frame, y)
    encoded = est.transform_.transform(frame)
    # price, colour=blue, colour=red, price missing
    assert set(np.unique(encoded[:, 1:])) == {0.0, 1.0}
    assert np.abs(encoded[:, 0]).max() < 3


def test_saved_and_loaded_with_identical_predictions(tmp_path):
    X = _skewed()
    est = NeuralNetRegressor(**QUICK).fit(X, X[:, 1])
    est.save(tmp_path / "m")
    loaded = load(tmp_path / "m", device="cpu")
    assert loaded.transform_.scaling == "robust"
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_a_memory_mapped_array_is_clipped_on_the_device_as_on_the_host(tmp_path):
    X = _skewed(300).astype(np.float32)
    y = (X[:, 1] > 0).astype(int)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    params = {**QUICK, "diagnostics": False, "hidden": (16,)}
    a = NeuralNetClassifier(**params).fit(X, y)
    b = NeuralNetClassifier(**params).fit(mapped, y)
    assert b.train_config_.prepare is not None and b.train_config_.prepare.clip is not None
    assert a.history_.column("train_loss") == b.history_.column("train_loss")


def test_images_keep_their_per_channel_scaling():
    X = np.random.default_rng(0).random((40, 8, 8)).astype(np.float32)
    est = NeuralNetClassifier(**{**QUICK, "kind": "mlp"}).fit(X, np.tile([0, 1], 20))
    assert est.transform_.scaling == "global"
