"""Estimator behaviour: defaults that match or beat scikit-learn's MLP, sklearn tooling, data handling."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import check_random_state

from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.data import split_indices
from trainwell.exceptions import DataError, NotFitted
from trainwell.train import Callback, RunState


def test_default_classifier_matches_sklearn_mlp_on_digits(digits_split):
    """Mean test accuracy over seeds 0-4 >= 97.5 % (sklearn's MLPClassifier: 97.5-98.1 %)."""
    Xtr, Xte, ytr, yte = digits_split
    accs = [NeuralNetClassifier(random_state=s, device="cpu").fit(Xtr, ytr).score(Xte, yte) for s in range(5)]
    assert np.mean(accs) >= 0.975, accs


def test_default_regressor_holds_up_on_diabetes():
    """Mean R² over seeds 0-4 >= 0.30 on load_diabetes, 75/25 split (LinearRegression: 0.36)."""
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    r2 = [NeuralNetRegressor(random_state=s, device="cpu").fit(Xtr, ytr).score(Xte, yte) for s in range(5)]
    assert np.mean(r2) >= 0.30, r2


def test_history_has_the_documented_columns(iris):
    X, y = iris
    est = NeuralNetClassifier(max_epochs=5, random_state=0, validation_fraction=0.2).fit(X, y)
    row = est.history_[-1]
    for key in ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr", "seconds"):
        assert key in row
    assert len(est.history_) == est.n_iter_ == 5
    frame = est.history_.to_frame()
    assert list(frame["epoch"]) == [1, 2, 3, 4, 5]


def test_early_stopping_restores_the_best_epoch(digits_split):
    Xtr, Xte, ytr, yte = digits_split
    est = NeuralNetClassifier(patience=3, random_state=0, max_epochs=200).fit(Xtr, ytr)
    val = est.history_.column("val_loss")
    assert est.n_iter_ < 200
    assert est.best_epoch_ == int(np.argmin(val)) + 1
    assert est.n_iter_ - est.best_epoch_ == 3
    assert f"restored the weights of epoch {est.best_epoch_}" in est.stop_reason_


class KeepEveryEpoch(Callback):
    """A copy of the weights at the end of every epoch."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, run: RunState) -> None:
        self.states.append(copy.deepcopy(run.net.state_dict()))


def test_early_stopping_restores_the_weights_of_the_best_epoch():
    """Pure-noise labels and a wide net without dropout: the validation loss rises after a few
    epochs, so the last epoch's weights are not the best ones and restoring them changes the network."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 20)), rng.integers(0, 2, 200)
    keep = KeepEveryEpoch()
    est = NeuralNetClassifier(hidden=(256, 256), lr=1e-2, patience=3, validation_fraction=0.25, max_epochs=100,
                              batch_size=32, dropout=0.0, diagnostics=False, random_state=0, device="cpu",
                              callbacks=[keep]).fit(X, y)
    recorded = est.history_.column("val_loss")
    best = est.best_epoch_
    assert best < est.n_iter_ == len(keep.states)
    assert recorded[-1] > 1.05 * recorded[best - 1]  # the last epoch really is worse

    # the validation rows, drawn as fit draws them (its seed comes from random_state)
    seed = int(check_random_state(0).randint(0, 2**31 - 1))
    _, val_idx = split_indices(len(y), 0.25, y, seed)
    assert len(val_idx) == est.n_val_
    Xv = torch.as_tensor(est.transform_.transform(X[val_idx]), dtype=torch.float32)
    yv = torch.as_tensor(y[val_idx])

    def val_loss(state: dict[str, torch.Tensor]) -> float:
        net = copy.deepcopy(est.network_)
        net.load_state_dict(state)
        with torch.no_grad():
            return float(F.cross_entropy(net.eval()(Xv), yv))

    # those are the rows fit validated on: every epoch's weights give that epoch's recorded loss
    assert [val_loss(state) for state in keep.states] == pytest.approx(recorded, rel=1e-5)
    # the fitted network is the best epoch's, weight for weight, and scores the best loss, not the last
    fitted = est.network_.state_dict()
    assert all(torch.equal(fitted[k], keep.states[best - 1][k]) for k in fitted)
    assert val_loss(fitted) == pytest.approx(recorded[best - 1], rel=1e-6)
    assert val_loss(fitted) != pytest.approx(recorded[-1], rel=1e-3)


def test_same_seed_same_model_on_cpu(iris):
    X, y = iris
    a = NeuralNetClassifier(max_epochs=8, random_state=3, dropout=0.2).fit(X, y)
    b = NeuralNetClassifier(max_epochs=8, random_state=3, dropout=0.2).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = NeuralNetClassifier(max_epochs=8, random_state=4, dropout=0.2).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_string_labels_are_encoded_and_decoded(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = NeuralNetClassifier(max_epochs=20, random_state=0).fit(X, names)
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
    assert set(est.predict(X)) <= set(names)
    assert est.score(X, names) > 0.8


def test_dataframe_with_categories_is_one_hot_encoded_and_unseen_is_handled():
    rng = np.random.default_rng(0)
    n = 400
    color = rng.choice(["red", "green", "blue"], size=n)
    x = rng.normal(size=n)
    y = ((color == "red") ^ (x > 0)).astype(int)
    frame = pd.DataFrame({"color": color, "x": x})
    est = NeuralNetClassifier(max_epochs=40, random_state=0).fit(frame, y)
    assert est.transform_.categories == {"color": ["blue", "green", "red"]}
    assert est.score(frame, y) > 0.9
    unseen = pd.DataFrame({"color": ["purple", "red"], "x": [0.5, 0.5]})
    assert est.predict(unseen).shape == (2,)
    assert list(est.feature_names_in_) == ["color", "x"]


def test_standardisation_uses_training_rows_only():
    X = np.arange(100, dtype=float).reshape(-1, 1)
    y = np.tile([0, 1], 50)
    est = NeuralNetClassifier(max_epochs=2, random_state=0, validation_fraction=0.2).fit(X, y)
    # the mean is that of the 80 training rows, not of all 100
    assert est.n_train_ == 80
    assert est.transform_.mean[0] != pytest.approx(49.5)


def test_works_in_pipeline_cross_val_and_grid_search(iris):
    X, y = iris
    pipe = make_pipeline(FunctionTransformer(), NeuralNetClassifier(max_epochs=15, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.8
    grid = GridSearchCV(NeuralNetClassifier(max_epochs=10, random_state=0), {"lr": [1e-3, 1e-2]}, cv=2).fit(X, y)
    assert grid.best_params_["lr"] in (1e-3, 1e-2)


def test_clone_and_pickle(iris):
    X, y = iris
    est = NeuralNetClassifier(max_epochs=5, random_state=0).fit(X, y)
    fresh = clone(est)
    assert not hasattr(fresh, "network_") and fresh.get_params() == est.get_params()
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))


def test_partial_fit_adds_epochs(iris):
    X, y = iris
    est = NeuralNetClassifier(random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    assert est.n_iter_ == 1
    for _ in range(4):
        est.partial_fit(X, y)
    assert est.n_iter_ == 5 and len(est.history_) == 5
    assert est.history_[-1]["train_loss"] < est.history_[0]["train_loss"]


def test_predict_before_fit_and_wrong_width(iris):
    X, y = iris
    with pytest.raises(NotFitted, match="not fitted"):
        NeuralNetClassifier().predict(X)
    est = NeuralNetClassifier(max_epochs=2).fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        est.predict(X[:, :3])


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.array([[1.0, np.nan], [2.0, 3.0], [1.0, 1.0]]), [0, 1, 0], "NaN.*row 0"),
        (np.array([[1.0, np.inf], [2.0, 3.0], [1.0, 1.0]]), [0, 1, 0], "inf"),
        (np.ones((3, 2)), [0, 1], "3 rows but y has 2"),
        (np.ones((3, 2)), [1, 1, 1], "only one class"),
        (np.ones((3, 2)), [0.1, 0.7, 0.3], "Unknown label type"),
        (np.ones(5), [0, 1, 0, 1, 0], "1-D"),
        (np.array([["a", "b"], ["c", "d"]]), [0, 1], "text"),
    ],
)
def test_bad_input_gets_one_sentence(X, y, match):
    with pytest.raises(DataError, match=match):
        NeuralNetClassifier(max_epochs=1, missing="error").fit(X, y)


def test_class_weight_balanced_helps_the_rare_class():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    y = (X[:, 0] + 0.5 * rng.normal(size=600) > 1.6).astype(int)  # about 7 % positives
    plain = NeuralNetClassifier(max_epochs=30, random_state=0, early_stopping=False).fit(X, y)
    weighted = NeuralNetClassifier(max_epochs=30, random_state=0, early_stopping=False, class_weight="balanced").fit(X, y)
    recall = lambda e: (e.predict(X[y == 1]) == 1).mean()  # noqa: E731
    assert recall(weighted) > recall(plain)


def test_regressor_targets_scaled_and_unscaled():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = 1000 + 50 * X[:, 0]
    est = NeuralNetRegressor(max_epochs=40, random_state=0).fit(X, y)
    assert est.target_scaler_.offset[0] == pytest.approx(y.mean(), rel=0.05)
    assert abs(est.predict(X).mean() - 1000) < 20


def test_regressor_warns_when_targets_exceed_the_output_range():
    from trainwell.estimators import TargetRangeWarning

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = rng.uniform(0, 100, size=100)
    with pytest.warns(TargetRangeWarning, match="sigmoid"):
        NeuralNetRegressor(max_epochs=2, output_activation="sigmoid", target_scaling="none").fit(X, y)
    # 'auto' maps targets into 0.01..0.99 of the sigmoid's range: no warning, good fit
    est = NeuralNetRegressor(max_epochs=2, output_activation="sigmoid", early_stopping=False).fit(X, y)
    z = est.target_scaler_.transform(y[:, None].astype(np.float32))
    assert z.min() == pytest.approx(0.01, abs=1e-4) and z.max() == pytest.approx(0.99, abs=1e-4)


def test_multi_output_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    Y = np.c_[X[:, 0], -X[:, 1]]
    est = NeuralNetRegressor(max_epochs=40, random_state=0).fit(X, Y)
    assert est.predict(X).shape == (300, 2)
    assert est.score(X, Y) > 0.9


def test_cnn_is_chosen_for_images():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = X.reshape(-1, 8, 8)
    est = NeuralNetClassifier(max_epochs=10, random_state=0, conv=((16, 3, 2), (16, 3, 0)), hidden=(16,))
    est.fit(images[:600], y[:600])
    assert est.spec_.kind == "cnn" and est.spec_.input_shape == (1, 8, 8)
    assert est.score(images[600:900], y[600:900]) > 0.8
    mlp = NeuralNetClassifier(kind="mlp", max_epochs=2).fit(images[:50], y[:50])  # flattens the images
    assert mlp.spec_.input_shape == (64,) and mlp.predict(images[:5]).shape == (5,)


def test_1d_cnn_on_signals():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 32)
    y = rng.integers(0, 2, size=300)
    X = np.sin(2 * np.pi * (2 + 3 * y)[:, None] * t) + 0.3 * rng.normal(size=(300, 32))
    est = NeuralNetClassifier(kind="cnn", conv=((16, 3, 2), (16, 3, 0)), hidden=(16,), max_epochs=20, random_state=0)
    est.fit(X, y)
    assert est.spec_.input_shape == (1, 32)
    assert est.score(X, y) > 0.9
