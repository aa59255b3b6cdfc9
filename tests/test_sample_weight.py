"""Sample weights: a weight of k counts like k copies of the row, on every training path.

Oracles: autograd on the same network with the row really repeated (one full-batch step:
loss and gradients), scikit-learn's own weighted metrics (``accuracy_score``, ``r2_score``
with ``sample_weight``) and ``StandardScaler(sample_weight=...)`` for the scaling statistics.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_iris
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from trainwell import NeuralNetClassifier, NeuralNetRegressor, load
from trainwell.data import split_indices
from trainwell.exceptions import DataError
from trainwell.nn import NetworkSpec, build_network, make_loss
from trainwell.train import TrainConfig, evaluate, fit_loop
from trainwell.train.fast_mlp import FastMLPStep
from trainwell.train.flat import FlatParameters


def _net(n_out, dropout=0.0, batchnorm=False, seed=0, head="linear"):
    spec = NetworkSpec(kind="mlp", input_shape=(5,), n_outputs=n_out, hidden=(16, 8), batchnorm=batchnorm,
                       activation="tanh", dropout=dropout, head=head)
    return build_network(spec, generator=torch.Generator().manual_seed(seed)).double()


def _data(regression, n=12):
    g = torch.Generator().manual_seed(3)
    X = torch.randn(n, 5, generator=g, dtype=torch.float64)
    y = torch.randn(n, 2, generator=g, dtype=torch.float64) if regression else torch.randint(0, 3, (n,), generator=g)
    return X, y


def _autograd(net, loss_fn, X, y, w=None):
    net.zero_grad(set_to_none=True)
    loss, _ = loss_fn.batch(net, X, y) if w is None else loss_fn.batch(net, X, y, w)
    loss.backward()
    return loss.item(), torch.cat([p.grad.reshape(-1) for p in net.parameters()])


def _fast(net, loss_fn, X, y, w):
    flat = FlatParameters(net)
    loss, _ = FastMLPStep(net, loss_fn, flat, update=lambda: None)(X, y, w)
    # the flat buffer holds the weights first, then the rest: back in parameter order
    grads = {id(s.param): flat.view(s, flat.grad).reshape(-1) for s in flat.slots}
    return loss.item(), torch.cat([grads[id(p)] for p in net.parameters()])


@pytest.mark.parametrize("loss_name", ["cross_entropy", "class_weighted", "hinge", "mse", "hierarchical_softmax"])
def test_weight_two_is_the_row_twice_in_one_full_batch_step(loss_name):
    """Loss and gradient of a full batch with weights (2 on row 0, 0 on row 1, 3 on row 2)
    equal those of the batch with row 0 doubled, row 1 dropped and row 2 tripled (autograd),
    and the hand-derived fast step gives the same numbers."""
    regression = loss_name == "mse"
    X, y = _data(regression)
    class_weight = torch.tensor([1.0, 2.5, 0.5], dtype=torch.float64) if loss_name == "class_weighted" else None
    loss_fn = make_loss({"class_weighted": "cross_entropy"}.get(loss_name, loss_name), class_weight)
    w = torch.ones(len(X), dtype=torch.float64)
    w[0], w[1], w[2] = 2.0, 0.0, 3.0
    repeat = torch.repeat_interleave(torch.arange(len(X)), w.long())
    net = _net(2 if regression else 3, head="hierarchical_softmax" if loss_name == "hierarchical_softmax" else "linear")
    want_loss, want_grad = _autograd(copy.deepcopy(net), loss_fn, X[repeat], y[repeat])
    loss, grad = _autograd(copy.deepcopy(net), loss_fn, X, y, w)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    torch.testing.assert_close(grad, want_grad, rtol=1e-10, atol=1e-12)
    # scaling every weight changes nothing: the loss is a ratio of weighted sums
    loss_scaled, grad_scaled = _autograd(copy.deepcopy(net), loss_fn, X, y, w * 7.5)
    assert loss_scaled == pytest.approx(want_loss, rel=1e-12)
    torch.testing.assert_close(grad_scaled, want_grad, rtol=1e-10, atol=1e-12)
    if loss_name in ("cross_entropy", "class_weighted", "mse"):  # the losses the fast step trains
        fast_loss, fast_grad = _fast(copy.deepcopy(net), loss_fn, X, y, w)
        assert fast_loss == pytest.approx(want_loss, rel=1e-12)
        torch.testing.assert_close(fast_grad, want_grad, rtol=1e-10, atol=1e-12)


def test_a_batch_of_zero_weights_has_zero_loss_and_gradient():
    X, y = _data(False, n=6)
    loss_fn = make_loss("cross_entropy")
    net = _net(3)
    loss, grad = _autograd(copy.deepcopy(net), loss_fn, X, y, torch.zeros(6, dtype=torch.float64))
    assert loss == 0.0 and torch.count_nonzero(grad) == 0
    fast_loss, fast_grad = _fast(copy.deepcopy(net), loss_fn, X, y, torch.zeros(6, dtype=torch.float64))
    assert fast_loss == 0.0 and torch.count_nonzero(fast_grad) == 0


def _run(X, y, w, fast, regression=False, epochs=3, emulate_graphs=False, monkeypatch=None):
    net = _net(2 if regression else 3).float()
    loss_fn = make_loss("mse" if regression else "cross_entropy")
    config = TrainConfig(batch_size=len(X), max_epochs=epochs, fast=fast, classification=not regression, lr=1e-2)
    train = (X, y) if w is None else (X, y, w)
    run = fit_loop(net, loss_fn, train, None, config, generator=torch.Generator().manual_seed(0))
    return net, run


@pytest.mark.parametrize("regression", [False, True])
def test_integer_weights_train_like_repeated_rows_on_every_path(regression, monkeypatch):
    """Full-batch training (no batch norm, no dropout): the weighted run and the run on the
    repeated rows end with the same weights and the same training numbers on the autograd
    step, the fast step and the CUDA-graph step (emulated on the CPU)."""
    X, y = _data(regression, n=20)
    X, y = X.float(), (y.float() if regression else y)
    w = torch.tensor([0, 1, 2, 3] * 5, dtype=torch.float32)
    repeat = torch.repeat_interleave(torch.arange(len(X)), w.long())
    results = {}
    for fast in (False, True):
        results[fast] = _run(X, y, w, fast, regression)
        net_rep, run_rep = _run(X[repeat], y[repeat], None, fast, regression)
        net_w, run_w = results[fast]
        assert run_w.fast_path["used"] is fast
        for a, b in zip(net_w.parameters(), net_rep.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        for key in run_rep.history[-1]:
            if key.startswith("train_"):
                assert run_w.history[-1][key] == pytest.approx(run_rep.history[-1][key], rel=1e-4, abs=1e-6)
    import trainwell.train.cuda_graph as cuda_graph

    monkeypatch.setattr(cuda_graph, "EMULATE", True)
    net_g, run_g = _run(X, y, w, True, regression)
    assert run_g.cuda_graphs["used"] and run_g.cuda_graphs["replays"] > 0
    for a, b in zip(net_g.parameters(), results[True][0].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_validation_numbers_are_sklearns_weighted_metrics():
    X, y = load_iris(return_X_y=True)
    w = np.random.default_rng(0).integers(0, 5, len(y)).astype(float)
    clf = NeuralNetClassifier(max_epochs=3, random_state=0, device="cpu").fit(X, y)
    Xt, yt = clf.to_tensors(X, y)
    out = evaluate(clf.network_, clf.loss_, Xt, yt, True, weight=torch.tensor(w, dtype=torch.float32)).tolist()
    assert out[1] == pytest.approx(accuracy_score(y, clf.predict(X), sample_weight=w), abs=1e-6)
    assert clf.score(X, y, sample_weight=w) == pytest.approx(out[1], abs=1e-6)
    proba = torch.softmax(clf.network_(Xt), 1).detach().numpy().astype(np.float64)
    nll = -np.log(proba[np.arange(len(y)), y])
    assert out[0] == pytest.approx(np.sum(w * nll) / w.sum(), rel=1e-4)

    Xr, yr = load_diabetes(return_X_y=True)
    wr = np.random.default_rng(1).uniform(0, 3, len(yr))
    reg = NeuralNetRegressor(max_epochs=3, random_state=0, device="cpu").fit(Xr, yr)
    Xt, yt = reg.to_tensors(Xr, yr)
    out = evaluate(reg.network_, reg.loss_, Xt, yt, False, weight=torch.tensor(wr, dtype=torch.float32)).tolist()
    scaled_pred = reg.target_scaler_.transform(reg.predict(Xr).reshape(-1, 1))
    assert out[1] == pytest.approx(r2_score(yt.numpy(), scaled_pred, sample_weight=wr), abs=1e-5)
    assert reg.score(Xr, yr, sample_weight=wr) == pytest.approx(r2_score(yr, reg.predict(Xr), sample_weight=wr))


def test_early_stopping_chooses_by_the_weighted_validation_loss():
    """Weights that zero out half of the rows change the validation losses the history
    records, and the best epoch is the one with the lowest weighted validation loss."""
    X, y = load_iris(return_X_y=True)
    w = np.where(np.arange(len(y)) % 2 == 0, 1.0, 0.0)
    kw = {"max_epochs": 30, "patience": 5, "random_state": 0, "device": "cpu", "lr": 0.05}
    weighted = NeuralNetClassifier(**kw).fit(X, y, sample_weight=w)
    plain = NeuralNetClassifier(**kw).fit(X, y)
    val_w = [row["val_loss"] for row in weighted.history_]
    assert val_w != [row["val_loss"] for row in plain.history_][:len(val_w)]
    assert weighted.best_epoch_ == int(np.argmin(val_w)) + 1
    # the recorded best validation loss is the weighted one: recomputed at the restored weights
    seed = int(check_random_state(0).randint(0, 2**31 - 1))
    _, val_idx = split_indices(len(y), weighted.validation_fraction_, y, seed)
    assert len(val_idx) == weighted.n_val_
    proba = weighted.predict_proba(X[val_idx])
    nll = -np.log(proba[np.arange(len(val_idx)), y[val_idx]])
    assert min(val_w) == pytest.approx(np.sum(w[val_idx] * nll) / w[val_idx].sum(), rel=1e-4)
    assert min(val_w) != pytest.approx(nll.mean(), rel=1e-3)


def test_scaling_statistics_are_weighted_like_standard_scaler():
    X, y = load_diabetes(return_X_y=True)
    w = np.random.default_rng(2).integers(0, 4, len(y)).astype(float)
    reg = NeuralNetRegressor(max_epochs=1, random_state=0, device="cpu", early_stopping=False).fit(X, y, sample_weight=w)
    oracle = StandardScaler().fit(X, sample_weight=w)
    np.testing.assert_allclose(reg.transform_.mean, oracle.mean_, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(reg.transform_.scale, oracle.scale_, rtol=1e-5)


@pytest.mark.parametrize(("weights", "words"), [
    (np.ones(3), "3 weights but X has 150 rows"),
    (np.ones((150, 2)), "must be 1-D"),
    (np.r_[-1.0, np.ones(149)], "negative"),
    (np.r_[np.nan, np.ones(149)], "finite"),
    (np.zeros(150), "zero for every row"),
    (2.0, "single number"),
])
def test_bad_weights_get_one_sentence(weights, words):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(DataError, match=words) as info:
        NeuralNetClassifier(max_epochs=1, device="cpu").fit(X, y, sample_weight=weights)
    assert str(info.value).count(". ") == 0 and str(info.value).endswith(".")


def test_caller_weights_are_not_changed_and_uniform_weights_change_nothing():
    X, y = load_iris(return_X_y=True)
    w = np.full(len(y), 4.0)
    kw = {"max_epochs": 4, "random_state": 0, "device": "cpu"}
    a = NeuralNetClassifier(**kw).fit(X, y, sample_weight=w)
    b = NeuralNetClassifier(**kw).fit(X, y)
    assert (w == 4.0).all()
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-4, atol=1e-6)


def test_partial_fit_takes_weights():
    X, y = load_iris(return_X_y=True)
    w = (y == 2).astype(float) * 5 + 0.1
    clf = NeuralNetClassifier(random_state=0, device="cpu", lr=0.05)
    clf.partial_fit(X, y, classes=[0, 1, 2], sample_weight=w)
    for _ in range(5):
        clf.partial_fit(X, y, sample_weight=w)
    assert clf.sample_weight_["used"] and clf.sample_weight_["max"] == pytest.approx(5.1)
    # the heavily weighted class is predicted more often than its share
    assert (clf.predict(X) == 2).mean() > 1 / 3


def test_saved_models_and_run_folders_record_the_weights(tmp_path):
    X, y = load_iris(return_X_y=True)
    w = np.r_[np.zeros(10), np.full(140, 2.0)]
    clf = NeuralNetClassifier(max_epochs=2, random_state=0, device="cpu", report=str(tmp_path / "run"))
    clf.fit(X, y, sample_weight=w)
    record = {"used": True, "n": 150, "sum": 280.0, "min": 0.0, "max": 2.0, "zero": 10}
    assert clf.sample_weight_ == record
    clf.save(tmp_path / "model")
    desc = json.loads((tmp_path / "model" / "model.json").read_text())
    assert desc["training"]["sample_weight"] == record
    assert load(tmp_path / "model", device="cpu").sample_weight_ == record
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["sample_weight"] == record
    plain = NeuralNetClassifier(max_epochs=1, random_state=0, device="cpu").fit(X, y)
    plain.save(tmp_path / "plain")
    assert load(tmp_path / "plain", device="cpu").sample_weight_ is None


def test_class_weights_and_sample_weights_multiply():
    """class_weight="balanced" counts each row by its sample weight (scikit-learn's compute_class_weight)."""
    from sklearn.utils.class_weight import compute_class_weight

    X, y = load_iris(return_X_y=True)
    w = np.where(y == 0, 3.0, 1.0)
    clf = NeuralNetClassifier(max_epochs=1, random_state=0, device="cpu", class_weight="balanced",
                              early_stopping=False).fit(X, y, sample_weight=w)
    want = compute_class_weight("balanced", classes=np.arange(3), y=y, sample_weight=w / w.mean())
    np.testing.assert_allclose(clf.loss_.class_weight.numpy(), want, rtol=1e-6)


def test_a_split_whose_training_or_validation_weights_are_all_zero_is_refused():
    """One row with weight: either the validation or the training rows are left with none."""
    X, y = load_iris(return_X_y=True)
    with pytest.raises(DataError, match=r"(training|validation) rows are all zero"):
        NeuralNetClassifier(max_epochs=1, device="cpu", random_state=0).fit(
            X, y, sample_weight=np.r_[np.ones(1), np.zeros(149)])


def _weighted_iris_csv(tmp_path, weights):
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns={"target": "species"})
    frame["w"] = weights
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    return path


def test_cli_weight_column_is_the_weights_not_a_feature(tmp_path, capsys):
    from trainwell.cli import main

    w = np.where(np.arange(150) % 3 == 0, 0.0, 2.0)
    path = _weighted_iris_csv(tmp_path, w)
    out = tmp_path / "run"
    assert main(["fit", str(path), "--target", "species", "--weight-column", "w", "--out", str(out),
                 "--max-epochs", "5", "--quiet", "--no-report"]) == 0
    config = json.loads((out / "config.json").read_text())
    record = config["sample_weight"]
    assert record["used"] and record["min"] == 0.0 and record["max"] == 2.0
    assert record["n"] == config["n_train"] + config["n_val"]  # the training rows' weights (the test rows' are not used)
    model = load(out, device="cpu")
    assert model.n_features_in_ == 4 and "w" not in list(model.feature_names_in_)
    assert model.sample_weight_ == record


@pytest.mark.parametrize(("column", "values", "message"), [
    ("wt", None, "not a column of the data (did you mean 'w'?)"),
    ("w", np.r_[-1.0, np.ones(149)], "is -1.0 at row 0 (line 2 of the file)"),
    ("w", np.zeros(150), "zero for every row"),
    ("species", None, "is the target column"),
])
def test_cli_bad_weight_column_is_one_sentence(tmp_path, capsys, column, values, message):
    from trainwell.cli import main

    path = _weighted_iris_csv(tmp_path, np.ones(150) if values is None else values)
    assert main(["fit", str(path), "--target", "species", "--weight-column", column, "--out",
                 str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_weights_are_refused_under_torchrun(monkeypatch):
    """DDP averages each process's weighted mean, which is not the global batch's: refused, in one sentence."""
    from trainwell.estimators import base
    from trainwell.exceptions import ConfigError

    monkeypatch.setattr(base.distributed, "setup", lambda device: (object(), device))
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ConfigError, match="not supported under torchrun"):
        NeuralNetClassifier(max_epochs=1, device="cpu").fit(X, y, sample_weight=np.ones(150))


def test_a_memory_mapped_array_trains_with_weights(tmp_path):
    """The mapped path gathers weights by row of the mapping, like the rows themselves."""
    X, y = load_iris(return_X_y=True)
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    w = np.where(y == 1, 3.0, 1.0)
    kw = {"max_epochs": 3, "random_state": 0, "device": "cpu"}
    from_map = NeuralNetClassifier(**kw).fit(mapped, y, sample_weight=w)
    in_memory = NeuralNetClassifier(**kw).fit(np.asarray(mapped).copy(), y, sample_weight=w)
    assert from_map.history_[-1]["train_loss"] == pytest.approx(in_memory.history_[-1]["train_loss"], rel=1e-5)
    assert from_map.history_[-1]["val_loss"] == pytest.approx(in_memory.history_[-1]["val_loss"], rel=1e-5)
