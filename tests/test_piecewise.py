"""Piecewise-linear encoding of numeric columns (``numeric_encoding``), against its definition and
scikit-learn's decision trees; saved with the model, used by every predictor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from trainwell import NeuralNetClassifier, NeuralNetRegressor, load
from trainwell.data import FeatureTransform
from trainwell.data.piecewise import (
    MAX_BINS,
    MIN_LEAF_SHARE,
    encode,
    encode_torch,
    fit_edges,
    resolve_encoding,
)
from trainwell.exceptions import ConfigError


def _table(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "gain": np.where(rng.random(n) < 0.8, 0.0, rng.lognormal(8, 1.5, n)),  # mostly 0, a heavy tail
        "age": rng.integers(18, 80, n).astype(float),
        "level": rng.integers(0, 4, n).astype(float),  # 4 values: too few to bin
        "city": rng.choice(["a", "b", "c"], n),
    })
    y = ((frame["gain"] > 7000) | (frame["age"].between(40, 50))).astype(int).to_numpy()
    return frame, y


def test_encoding_inverts_to_the_value_inside_and_outside_the_training_range():
    edges = {0: [0.0, 1.0, 3.0, 10.0]}
    x = np.array([[-2.0], [0.0], [0.5], [1.0], [2.0], [9.0], [10.0], [25.0]], dtype=np.float32)
    e = encode(x, edges)
    widths = np.diff(edges[0])
    np.testing.assert_allclose(edges[0][0] + e @ widths, x[:, 0], rtol=1e-6)  # x = lo_0 + sum_t e_t (hi_t - lo_t)
    # inside the range every bin is within [0, 1]: all ones below the value's bin, zeros above
    np.testing.assert_allclose(e[4], [1.0, 0.5, 0.0])
    assert e[0, 0] < 0 and e[-1, -1] > 1  # the first bin open below, the last open above
    assert e[1:-1].min() >= 0 and e[1:-1].max() <= 1


def test_torch_encoding_is_the_numpy_one():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3)).astype(np.float32) * 4
    edges = {0: [-3.0, -1.0, 0.5, 2.0], 2: [-1.0, 0.0, 1.0]}
    np.testing.assert_allclose(encode_torch(torch.from_numpy(X), edges).numpy(), encode(X, edges), rtol=1e-6)


@pytest.mark.parametrize("classification", [True, False])
def test_edges_are_the_thresholds_of_sklearns_tree_on_each_column(classification):
    X, y = _table()
    values = X[["gain", "age", "level"]].to_numpy()
    target = y if classification else values[:, 0] * 1e-3 + values[:, 1]
    edges = fit_edges(values, target, np.arange(3), classification)
    assert set(edges) == {0, 1}  # "level" has 4 distinct values: left as it is
    tree_class = DecisionTreeClassifier if classification else DecisionTreeRegressor
    for j, found in edges.items():
        tree = tree_class(max_leaf_nodes=MAX_BINS, min_samples_leaf=int(MIN_LEAF_SHARE * len(values)), random_state=0)
        tree.fit(values[:, [j]], target)
        thresholds = np.sort(tree.tree_.threshold[tree.tree_.feature >= 0])
        assert found == [values[:, j].min(), *thresholds, values[:, j].max()]
        assert len(found) - 1 <= MAX_BINS


def test_auto_bins_tables_of_1000_rows_or_more_and_never_pixels():
    assert resolve_encoding("auto", 999, True) == "none"
    assert resolve_encoding("auto", 1000, True) == "piecewise"
    assert resolve_encoding("Piecewise", 10, True) == "piecewise"
    assert resolve_encoding("piecewise", 5000, False) == "none"
    assert resolve_encoding("auto", 5000, True, n_numeric=64) == "piecewise"
    assert resolve_encoding("auto", 5000, True, n_numeric=65) == "none"  # wide numeric data: not by default
    assert resolve_encoding("piecewise", 5000, True, n_numeric=500) == "piecewise"
    pixels = np.random.default_rng(0).integers(0, 256, size=(1200, 64)).astype(np.float32)
    pixels[:, :40] = np.minimum(pixels[:, :40], 255)
    t = FeatureTransform().fit(pixels, numeric_encoding="piecewise", y=np.arange(1200) % 3)
    assert t.scaling == "global" and not t.bins  # pixel-like: one scale, no bins


def test_the_classifier_bins_learns_the_threshold_and_round_trips(tmp_path):
    X, y = _table()
    clf = NeuralNetClassifier(hidden=(32,), max_epochs=30, random_state=0, device="cpu").fit(X, y)
    t = clf.transform_
    names = t._expanded_names()
    assert sorted(names[j] for j in t.bins) == ["age", "gain"]
    # width: 3 numeric + 3 one-hot, then the bins (unscaled: mean 0, scale 1)
    assert t.sample_shape == (6 + t.n_bin_columns,)
    assert np.all(t.mean[6:] == 0) and np.all(t.scale[6:] == 1)
    assert any(6000 < edge < 8000 for edge in t.bins[names.index("gain")])  # the tree found the gain threshold
    small = NeuralNetClassifier(hidden=(32,), max_epochs=2, random_state=0, device="cpu").fit(X[:900], y[:900])
    assert not small.transform_.bins  # under 1,000 training rows: "auto" is none
    test, _ = _table(n=200, seed=1)
    clf.save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert loaded.transform_.bins == t.bins
    np.testing.assert_allclose(loaded.predict_proba(test), clf.predict_proba(test), rtol=0, atol=1e-6)
    from trainwell.predictor import NumpyPredictor  # the command line's predictor: NumPy only

    numpy_model = NumpyPredictor.from_folder(tmp_path / "model")
    np.testing.assert_allclose(numpy_model.predict_proba(test), clf.predict_proba(test), rtol=0, atol=1e-6)


def test_bins_come_from_the_training_rows_only():
    from sklearn.utils import check_random_state

    from trainwell.data.split import split_indices

    X, y = _table(n=2400)
    clf = NeuralNetClassifier(hidden=(8,), max_epochs=1, validation_fraction=0.5, random_state=0, device="cpu")
    clf.fit(X, y)
    # the estimator's own split (its seed drawn from random_state as fit draws it)
    seed = int(check_random_state(0).randint(0, 2**31 - 1))
    train_idx, _ = split_indices(len(X), 0.5, y, seed)
    expected = FeatureTransform().fit(X.iloc[train_idx], numeric_encoding="piecewise", y=y[train_idx]).bins
    everything = FeatureTransform().fit(X, numeric_encoding="piecewise", y=y).bins
    assert clf.transform_.bins == expected != everything


def test_regressor_two_targets_and_none_turns_it_off():
    X, _ = _table()
    target = np.column_stack([X["gain"].to_numpy() / 1000, X["age"].to_numpy()])
    reg = NeuralNetRegressor(hidden=(16,), max_epochs=2, random_state=0, device="cpu").fit(X, target)
    assert reg.transform_.bins
    off = NeuralNetRegressor(hidden=(16,), max_epochs=2, numeric_encoding="none", random_state=0, device="cpu")
    assert not off.fit(X, target).transform_.bins
    cnn = NeuralNetClassifier(kind="cnn", max_epochs=1, random_state=0, device="cpu")
    images = np.random.default_rng(0).normal(size=(1100, 8, 8)).astype(np.float32)
    assert not cnn.fit(images, np.arange(1100) % 2).transform_.bins
    with pytest.raises(ConfigError, match="numeric_encoding"):
        NeuralNetClassifier(numeric_encoding="bins").fit(X, target[:, 0] > 1)


def test_cli_flag_and_info(tmp_path, capsys):
    import json

    from trainwell.cli import main

    X, y = _table()
    frame = X.assign(target=y)
    frame.to_csv(tmp_path / "t.csv", index=False)
    for value, binned in (("none", False), ("auto", True)):
        out = tmp_path / value
        assert main(["fit", str(tmp_path / "t.csv"), "--target", "target", "--out", str(out), "--max-epochs", "1",
                     "--numeric-encoding", value, "--quiet"]) == 0
        assert bool(load(out).transform_.bins) is binned
        capsys.readouterr()
        assert main(["info", str(out), "--json"]) == 0
        prep = json.loads(capsys.readouterr().out)["input_preparation"]
        assert prep["piecewise_columns"] == (["gain", "age"] if binned else [])
        assert prep["piecewise_inputs"] == load(out).transform_.n_bin_columns
        assert main(["info", str(out)]) == 0
        line = next(t for t in capsys.readouterr().out.splitlines() if t.startswith("input preparation"))
        assert ("piecewise-linear bins on 2 numeric column(s) (gain, age)" in line) is binned
