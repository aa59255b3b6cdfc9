"""ONNX export (``est.to_onnx``, ``trainwell export``), with onnxruntime as the oracle.

The graph takes the raw features and must give what trainwell gives: probabilities within
1e-5, labels exactly (as the classes' own type), a regressor's predictions in the units of ``y``
within 1e-5 of the target's scale (ONNX computes in float32, trainwell's CPU predictions in
float64).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_diabetes, load_digits

from trainwell import NeuralNetClassifier, NeuralNetRegressor, load
from trainwell.cli import main
from trainwell.estimators.onnx_export import onnx_inputs
from trainwell.exceptions import ConfigError, NotFitted

ort = pytest.importorskip("onnxruntime")  # a guard only: the onnx extra is in dev, so CI runs these
pytest.importorskip("onnxscript")


def _run(path, est, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session, session.run(None, onnx_inputs(est, X))


def _table(n=240, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.normal(40, 12, n),
        "income": rng.lognormal(10, 1, n),  # next to age: one slice of X in the graph
        "colour": rng.choice(["red", "green", "blue"], n),
        "score": rng.normal(size=n),
        "member": rng.choice([True, False], n),
    })
    frame.loc[frame.index[::17], "colour"] = None  # missing: a category of its own
    logit = 0.08 * (frame["age"] - 40) + (frame["colour"] == "red") - frame["score"]
    y = np.where(logit > 0.3, "buy", np.where(logit < -0.8, "leave", "wait"))
    return frame, y


def test_mlp_on_a_table_with_categorical_columns(tmp_path):
    X, y = _table()
    clf = NeuralNetClassifier(hidden=(16,), dropout=0.2, max_epochs=8, random_state=0, device="cpu").fit(X, y)
    path = clf.to_onnx(str(tmp_path / "table.onnx"))
    assert path == str(tmp_path / "table.onnx")
    test, _ = _table(n=60, seed=1)
    test.loc[test.index[0], "colour"] = "purple"  # never seen: all zeros, in trainwell and in the graph
    session, (label, proba) = _run(path, clf, test)
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("X", "tensor(float)"), ("colour", "tensor(string)"), ("member", "tensor(string)")]
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    np.testing.assert_allclose(proba, clf.predict_proba(test), rtol=0, atol=1e-5)
    assert label.dtype == object and list(label) == list(clf.predict(test))
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["categorical_columns"]) == ["colour", "member"]
    assert json.loads(meta["classes"]) == ["buy", "leave", "wait"]


@pytest.mark.parametrize("scaling", ["auto", "robust"])
def test_gaps_piecewise_bins_and_robust_scaling_are_in_the_graph(tmp_path, scaling):
    # 1,300 rows: numeric_encoding="auto" bins the numeric columns; gaps in training give indicators
    X, y = _table(n=1300)
    X.loc[X.index[::9], "income"] = np.nan
    clf = NeuralNetClassifier(hidden=(16,), max_epochs=4, scaling=scaling, random_state=0, device="cpu").fit(X, y)
    assert clf.transform_.bins and clf.transform_.indicate  # both in play
    path = clf.to_onnx(str(tmp_path / "gaps.onnx"))
    test, _ = _table(n=80, seed=1)
    test.loc[test.index[::5], "income"] = np.nan
    test.loc[test.index[::7], "age"] = np.nan  # gaps where training had none: filled, no indicator
    test.loc[test.index[1], "age"] = 400.0  # far outside the training range: the last bin extrapolates
    _, (label, proba) = _run(path, clf, test)
    np.testing.assert_allclose(proba, clf.predict_proba(test), rtol=0, atol=1e-5)
    assert list(label) == list(clf.predict(test))


def test_cnn_on_images_one_row_and_many(tmp_path):
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)  # grey images, as predict takes them
    clf = NeuralNetClassifier(kind="cnn", max_epochs=3, random_state=0, device="cpu").fit(X[:500], y[:500])
    path = clf.to_onnx(str(tmp_path / "digits.onnx"))
    session, (label, proba) = _run(path, clf, X[500:700])
    assert session.get_inputs()[0].shape == ["batch", 8, 8]
    np.testing.assert_allclose(proba, clf.predict_proba(X[500:700]), rtol=0, atol=1e-5)
    assert label.dtype == np.int64 and np.array_equal(label, clf.predict(X[500:700]))
    label_one, _ = session.run(None, onnx_inputs(clf, X[700:701]))  # the batch dimension is dynamic
    assert np.array_equal(label_one, clf.predict(X[700:701]))


def test_regressor_in_the_units_of_y(tmp_path):
    X, y = load_diabetes(return_X_y=True)
    y2 = np.column_stack([y, 1000 + 10 * y])
    for target, name in ((y, "one"), (y2, "two")):
        reg = NeuralNetRegressor(max_epochs=5, random_state=0, device="cpu").fit(X[:350], target[:350])
        path = reg.to_onnx(str(tmp_path / f"{name}.onnx"))
        _, (pred,) = _run(path, reg, X[350:])
        expected = reg.predict(X[350:])
        assert pred.shape == expected.shape
        assert np.all(np.abs(pred - expected) <= 1e-5 * reg.target_scaler_.scale)
        assert np.abs(expected).min() > 10  # the targets' units, not the scaled ones


def test_unfitted_estimator_and_bad_paths(tmp_path):
    with pytest.raises(NotFitted, match="not fitted"):
        NeuralNetClassifier().to_onnx(str(tmp_path / "m.onnx"))
    X, y = load_digits(return_X_y=True)
    clf = NeuralNetClassifier(hidden=(8,), max_epochs=1, random_state=0, device="cpu").fit(X[:200], y[:200])
    with pytest.raises(ConfigError, match="does not exist"):
        clf.to_onnx(str(tmp_path / "nope" / "m.onnx"))
    with pytest.raises(ConfigError, match="is a folder"):
        clf.to_onnx(str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_nothing(tmp_path, monkeypatch):
    import onnx

    X, y = load_digits(return_X_y=True)
    clf = NeuralNetClassifier(hidden=(8,), max_epochs=1, random_state=0, device="cpu").fit(X[:200], y[:200])

    def broken(model, full_check=False):
        raise onnx.checker.ValidationError("broken on purpose")

    monkeypatch.setattr(onnx.checker, "check_model", broken)
    with pytest.raises(onnx.checker.ValidationError):
        clf.to_onnx(str(tmp_path / "m.onnx"))
    assert list(tmp_path.iterdir()) == []


def test_cli_export_of_a_fit_run_is_recorded(tmp_path, capsys):
    X, y = _table(n=200)
    frame = X.assign(outcome=y)
    frame.to_csv(tmp_path / "data.csv", index=False)
    run = tmp_path / "run"
    assert main(["fit", str(tmp_path / "data.csv"), "--target", "outcome", "--out", str(run), "--max-epochs", "3",
                 "--no-report", "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "model.onnx"
    assert main(["export", str(run), str(out)]) == 0
    streams = capsys.readouterr()
    assert streams.out.strip() == str(out)  # stdout: the path only
    recorded = json.loads((run / "model" / "model.json").read_text())["onnx"]
    assert recorded["path"] == str(out.resolve()) and recorded["opset"] == 18 and recorded["ml_opset"] == 3
    est = load(run, device="cpu")  # the folder still loads, with its record
    test = pd.read_csv(tmp_path / "data.csv").drop(columns="outcome")
    _, (label, proba) = _run(out, est, test)
    np.testing.assert_allclose(proba, est.predict_proba(test), rtol=0, atol=1e-5)
    assert list(label) == list(est.predict(test))
    assert main(["info", str(run), "--json"]) == 0  # info shows the recorded export
    assert json.loads(capsys.readouterr().out)["onnx"] == recorded
    assert main(["info", str(run)]) == 0
    assert f"ONNX export: {out.resolve()} (opset 18)" in capsys.readouterr().out


def test_cli_export_errors_write_nothing(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), str(tmp_path / "m.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    X, y = load_digits(return_X_y=True)
    NeuralNetClassifier(hidden=(8,), max_epochs=1, random_state=0, device="cpu").fit(X[:200], y[:200]).save(
        str(tmp_path / "model"))
    before = (tmp_path / "model" / "model.json").read_bytes()
    assert main(["export", str(tmp_path / "model"), str(tmp_path / "no" / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert (tmp_path / "model" / "model.json").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model"]


@pytest.mark.parametrize(("params", "labels"), [
    ({"loss": "hierarchical_softmax", "activation": "prelu", "hidden": (16,)}, "int"),
    ({"loss": "hinge", "activation": ("leaky_relu", 0.1), "batchnorm": False, "hidden": (16,)}, "float"),
    ({"kind": "cnn", "conv": ((8, 3, 2),), "hidden": (8,)}, "bool"),
])
def test_other_heads_activations_and_label_types(tmp_path, params, labels):
    rng = np.random.default_rng(0)
    if params.get("kind") == "cnn":  # a two-channel signal, (n, channels, length)
        X = rng.normal(size=(240, 2, 32)).astype(np.float32)
        y = X[:, 0, :16].mean(axis=1) > X[:, 1, 16:].mean(axis=1)
    else:
        X, y = load_digits(return_X_y=True)
        X, y = X[:400], (y[:400].astype(float) if labels == "float" else y[:400])
    clf = NeuralNetClassifier(max_epochs=3, random_state=0, device="cpu", **params).fit(X, y)
    path = clf.to_onnx(str(tmp_path / "m.onnx"))
    _, (label, proba) = _run(path, clf, X)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)
    assert label.dtype == clf.classes_.dtype and np.array_equal(label, clf.predict(X))


def test_missing_packages_are_named(tmp_path, monkeypatch):
    import sys

    X, y = load_digits(return_X_y=True)
    clf = NeuralNetClassifier(hidden=(8,), max_epochs=1, random_state=0, device="cpu").fit(X[:200], y[:200])
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"onnxscript is missing.*trainwell\[onnx\]"):
        clf.to_onnx(str(tmp_path / "m.onnx"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_model_fitted_on_a_gpu_exports_for_the_cpu(tmp_path):
    X, y = load_digits(return_X_y=True)
    clf = NeuralNetClassifier(kind="cnn", max_epochs=2, random_state=0, device="cuda").fit(X[:400].reshape(-1, 8, 8), y[:400])
    path = clf.to_onnx(str(tmp_path / "m.onnx"))
    _, (label, proba) = _run(path, clf, X[400:600].reshape(-1, 8, 8))
    # on a GPU trainwell predicts in float32 too, with other kernels: within 1e-4
    np.testing.assert_allclose(proba, clf.predict_proba(X[400:600].reshape(-1, 8, 8)), rtol=0, atol=1e-4)
    assert next(clf.network_.parameters()).is_cuda  # the estimator's own network stays where it was
