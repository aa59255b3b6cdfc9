"""The NumPy predictor gives what the loaded estimator gives, and `trainwell predict` uses it
without importing PyTorch or scikit-learn (the oracle: ``trainwell.load(path).predict``)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

from trainwell import NeuralNetClassifier, NeuralNetRegressor, load
from trainwell.exceptions import DataError, ModelFileError
from trainwell.predictor import NumpyPredictor

FAST = {"max_epochs": 3, "random_state": 0, "diagnostics": False, "early_stopping": False}


def _iris_frame() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X = X.copy()
    X["colour"] = np.where(X["sepal length (cm)"] > 5.8, "red", "blue")  # a categorical column
    return X, np.asarray(["setosa", "versicolor", "virginica"])[y]


@pytest.mark.parametrize("settings", [
    {},
    {"activation": "tanh", "dropout": 0.3},
    {"activation": "sigmoid", "batchnorm": False},
    {"activation": ("leaky_relu", 0.2)},
    {"activation": "prelu", "hidden": (16, 8, 4)},
    {"loss": "hinge"},
])
def test_classifier_matches_the_loaded_estimator(tmp_path, settings):
    X, y = _iris_frame()
    est = NeuralNetClassifier(**FAST, **settings).fit(X, y)
    est.save(tmp_path / "m")
    predictor = NumpyPredictor.from_folder(tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert predictor is not None
    np.testing.assert_allclose(predictor.predict_proba(X), loaded.predict_proba(X), rtol=0, atol=1e-12)
    assert (predictor.predict(X) == loaded.predict(X)).all()
    assert list(predictor.classes_) == ["setosa", "versicolor", "virginica"]


@pytest.mark.parametrize("settings", [{}, {"output_activation": "sigmoid"}, {"activation": "tanh", "batchnorm": False}])
def test_regressor_matches_the_loaded_estimator_in_the_targets_units(tmp_path, settings):
    X, y = load_diabetes(return_X_y=True)
    Y = np.column_stack([y, y / 10 + 3]) if not settings else y  # two targets, and one
    est = NeuralNetRegressor(**FAST, **settings).fit(X, Y)
    est.save(tmp_path / "m")
    predictor = NumpyPredictor.from_folder(tmp_path / "m")
    assert predictor is not None and not hasattr(predictor, "classes_")
    expected = load(tmp_path / "m").predict(X)
    got = predictor.predict(X)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)


def test_networks_it_does_not_cover_are_left_to_pytorch(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((40, 1, 8, 8)).astype(np.float32)
    NeuralNetClassifier(**FAST, kind="cnn", conv=((4, 3, 2),), hidden=(8,)).fit(images, rng.integers(0, 2, 40)).save(
        tmp_path / "cnn")
    assert NumpyPredictor.from_folder(tmp_path / "cnn") is None
    X, y = load_iris(return_X_y=True)
    NeuralNetClassifier(**FAST, loss="hierarchical_softmax").fit(X, y).save(tmp_path / "hs")
    assert NumpyPredictor.from_folder(tmp_path / "hs") is None


def test_refuses_what_the_estimator_refuses(tmp_path):
    X, y = _iris_frame()
    NeuralNetClassifier(**FAST).fit(X, y).save(tmp_path / "m")
    predictor = NumpyPredictor.from_folder(tmp_path / "m")
    loaded = load(tmp_path / "m")
    for bad in (X.drop(columns=["colour"]), X.assign(extra=1.0), X.assign(**{"petal width (cm)": np.inf})):
        with pytest.raises(DataError) as ours:
            predictor.predict(bad)
        with pytest.raises(DataError) as theirs:
            loaded.predict(bad)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ModelFileError, match="does not exist"):
        NumpyPredictor.from_folder(tmp_path / "nowhere")
    (tmp_path / "m" / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="damaged"):
        NumpyPredictor.from_folder(tmp_path / "m")


def test_array_trained_model_checks_the_number_of_features(tmp_path):
    X, y = load_iris(return_X_y=True)
    NeuralNetClassifier(**FAST).fit(X, y).save(tmp_path / "m")
    predictor = NumpyPredictor.from_folder(tmp_path / "m")
    with pytest.raises(DataError, match="X has 3 features, but NeuralNetClassifier is expecting 4"):
        predictor.predict(X[:, :3])
    assert (predictor.predict(X) == load(tmp_path / "m").predict(X)).all()


def test_cli_predict_imports_neither_pytorch_nor_scikit_learn(tmp_path):
    X, y = _iris_frame()
    est = NeuralNetClassifier(**FAST).fit(X, y)
    est.save(tmp_path / "m")
    X.assign(species=y).to_csv(tmp_path / "rows.csv", index=False)
    code = ("import sys; from trainwell.cli import main; rc = main(['predict', sys.argv[1], sys.argv[2], '--proba', "
            "'--json']); print(json.dumps(sorted(m for m in ('torch', 'sklearn') if m in sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", "import json; " + code, str(tmp_path / "m"), str(tmp_path / "rows.csv")],
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["prediction"] for r in rows] == est.predict(X).tolist()
    proba = np.array([[r["proba"][c] for c in est.classes_] for r in rows])
    np.testing.assert_allclose(proba, est.predict_proba(X), atol=1e-12)
