"""Sparse input: CSR rows stay sparse, each batch is densified, scaling leaves columns uncentred.

Oracles: scikit-learn's ``StandardScaler(with_mean=False)`` for the scaling, the same rows
trained dense (bitwise the same network input: the same predictions), ``LogisticRegression``
on the same TF-IDF features for the text classification.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from trainwell import NeuralNetClassifier, NeuralNetRegressor, load
from trainwell.data.sparse import SparseRows

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.sparse_text import stdlib_docstrings, tfidf_split  # noqa: E402


def _sparse_task(n=500, d=300, density=0.03, seed=0):
    X = scipy.sparse.random(n, d, density=density, format="csr", random_state=seed, dtype=np.float64) * 5
    signal = np.asarray(X[:, : d // 2].sum(1)).ravel() - np.asarray(X[:, d // 2:].sum(1)).ravel()
    return X, (signal > 0).astype(int)


def test_scaling_is_standard_scaler_without_mean():
    X, y = _sparse_task()
    clf = NeuralNetClassifier(max_epochs=1, random_state=0, device="cpu", early_stopping=False).fit(X, y)
    oracle = StandardScaler(with_mean=False).fit(X)
    assert clf.transform_.sparse and not clf.transform_.mean.any()
    np.testing.assert_allclose(clf.transform_.scale, oracle.scale_, rtol=1e-6)
    scaled = clf.transform_.transform(X)
    assert scipy.sparse.issparse(scaled) and scaled.nnz == X.nnz  # zeros stayed zeros
    np.testing.assert_allclose(scaled.toarray(), oracle.transform(X).toarray(), rtol=1e-6, atol=1e-7)
    w = np.random.default_rng(0).integers(0, 4, X.shape[0]).astype(float)
    weighted = NeuralNetClassifier(max_epochs=1, random_state=0, device="cpu", early_stopping=False).fit(
        X, y, sample_weight=w)
    np.testing.assert_allclose(weighted.transform_.scale, StandardScaler(with_mean=False).fit(X, sample_weight=w).scale_,
                               rtol=1e-6)


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_csr_predicts_what_the_same_rows_dense_predict(cls):
    """Same seed, same network input (the CSR fit's scaled rows, given dense with scaling='none'):
    the same trained network, so the same predictions, bit for bit; and next to the rows scaled
    by scikit-learn's StandardScaler(with_mean=False), the same up to float rounding."""
    X, y = _sparse_task()
    target = y if cls is NeuralNetClassifier else np.asarray(X.sum(1)).ravel()
    kw = {"max_epochs": 8, "random_state": 0, "device": "cpu"}
    sparse_fit = cls(**kw).fit(X, target)
    dense_rows = sparse_fit.transform_.transform(X).toarray()
    dense_fit = cls(**kw, scaling="none").fit(dense_rows, target)
    method = "predict_proba" if cls is NeuralNetClassifier else "predict"
    np.testing.assert_array_equal(getattr(sparse_fit, method)(X), getattr(dense_fit, method)(dense_rows))
    assert sparse_fit.n_iter_ == dense_fit.n_iter_ and sparse_fit.run_.fast_path["used"]
    # a matrix in another sparse format is taken as CSR
    np.testing.assert_array_equal(getattr(sparse_fit, method)(X.tocoo()), getattr(sparse_fit, method)(X))


def test_training_never_densifies_the_whole_matrix(monkeypatch):
    """Every toarray() call in fit, predict and predict_proba covers a batch or a bounded chunk."""
    X, y = _sparse_task(n=2000, d=500)
    shapes = []
    real = scipy.sparse.csr_matrix.toarray

    def recording(self, *args, **kwargs):
        shapes.append(self.shape)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(scipy.sparse.csr_matrix, "toarray", recording)
    monkeypatch.setattr("trainwell.data.sparse.DENSE_CHUNK_VALUES", 200 * 500)  # validation/prediction: 200 rows
    clf = NeuralNetClassifier(max_epochs=3, random_state=0, device="cpu", batch_size=64).fit(X, y)
    clf.predict(X), clf.predict_proba(X)
    assert shapes and max(rows for rows, _ in shapes) <= 200
    assert {cols for _, cols in shapes} == {500}


@pytest.mark.slow
def test_a_matrix_of_gigabytes_dense_trains_in_megabytes():
    """300,000 x 4,000 float32 is 4.8 GB dense; as CSR with 0.05 % non-zero it is 7 MB. One
    epoch trains and predicts with numpy's peak allocation far below the dense size.

    Slow (every epoch still writes each batch dense: 4.8 GB of stores); the default run covers
    the same promise with test_training_never_densifies_the_whole_matrix."""
    n, d = 300_000, 4_000
    rng = np.random.default_rng(0)
    X = scipy.sparse.random(n, d, density=5e-4, format="csr", random_state=rng, dtype=np.float32)
    y = (np.asarray(X[:, :2000].sum(1)).ravel() > np.asarray(X[:, 2000:].sum(1)).ravel()).astype(int)
    tracemalloc.start()
    try:
        clf = NeuralNetClassifier(max_epochs=1, hidden=(8,), batch_size=1024, random_state=0, device="cpu",
                                  diagnostics=False).fit(X, y)
        pred = clf.predict(X[:50_000])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400e6, f"peak {peak / 1e6:.0f} MB"  # dense would be 4,800 MB
    assert clf.n_iter_ == 1 and len(pred) == 50_000
    assert np.mean(pred == y[:50_000]) > 0.6


def test_sparse_rows_densify_on_the_device_path_too():
    """The CUDA branch (batch CSR parts to the device, densified by torch) gives scipy's rows;
    run here on the CPU device with the branch forced."""
    X, _ = _sparse_task(n=50, d=20)
    rows = SparseRows(X.astype(np.float32), torch.device("cpu"))
    rows.is_cuda = True
    index = torch.tensor([3, 0, 49, 3])
    np.testing.assert_array_equal(rows.take_rows(index).numpy(), X[[3, 0, 49, 3]].toarray().astype(np.float32))
    np.testing.assert_array_equal(rows[5:9].numpy(), X[5:9].toarray().astype(np.float32))


def test_the_findings_the_report_and_the_model_say_sparse(tmp_path):
    X, y = _sparse_task()
    clf = NeuralNetClassifier(max_epochs=2, random_state=0, device="cpu", report=str(tmp_path / "run")).fit(X, y)
    finding = next(f for f in clf.findings_ if f.code == "sparse_input_uncentred")
    assert finding.severity == "info" and "with_mean=False" in finding.message
    for name in ("report.html", "diagnostics.json"):
        text = (tmp_path / "run" / name).read_text(encoding="utf-8")
        assert "sparse_input_uncentred" in text and "with_mean=False" in text
    assert clf.run_.cuda_graphs["reason"].startswith("sparse rows")
    clf.save(tmp_path / "model")
    assert json.loads((tmp_path / "model" / "model.json").read_text())["features"]["sparse"] is True
    back = load(tmp_path / "model", device="cpu")
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_allclose(back.predict_proba(X.toarray()), clf.predict_proba(X), rtol=1e-6)  # dense rows too


def test_partial_fit_keeps_chunks_sparse():
    X, y = _sparse_task(n=600)
    clf = NeuralNetClassifier(random_state=0, device="cpu")
    for start in range(0, 600, 200):
        clf.partial_fit(X[start:start + 200], y[start:start + 200], classes=[0, 1])
    assert clf.transform_.sparse and clf.n_iter_ == 3


def test_text_classification_next_to_logistic_regression():
    """Docstrings of three standard-library packages, labelled by package (text that ships with
    Python): on the same TF-IDF matrix trainwell comes within 8 points of LogisticRegression."""
    texts, labels = stdlib_docstrings(("asyncio", "email", "logging"))
    assert len(set(labels)) == 3 and len(texts) > 500
    X_train, X_test, y_train, y_test = tfidf_split(texts, labels, seed=0)
    assert scipy.sparse.issparse(X_train) and X_train.nnz < 0.05 * np.prod(X_train.shape)
    clf = NeuralNetClassifier(max_epochs=25, random_state=0, device="cpu").fit(X_train, y_train)
    ours = clf.score(X_test, y_test)
    theirs = LogisticRegression(C=10.0, max_iter=2000).fit(X_train, y_train).score(X_test, y_test)
    assert ours > 0.7 and ours > theirs - 0.08, (ours, theirs)


def test_check_runs_the_sanity_checks_on_a_sparse_matrix():
    import trainwell

    rng = np.random.default_rng(0)
    X = scipy.sparse.random(300, 500, density=0.02, format="csr", random_state=0)
    y = rng.integers(0, 3, 300)
    codes = {f.code: f.severity for f in trainwell.check(NeuralNetClassifier(max_epochs=2), X, y)}
    # loss at init near ln 3 on uncentred sparse rows, and 20 rows overfit: the sanity checks ran and passed
    assert codes.get("init_loss_ok") == "info" and codes.get("overfit_small_batch_ok") == "info"
