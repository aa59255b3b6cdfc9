"""Networks from a spec: every activation, init, loss and optimizer trains a tiny problem."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch

from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.exceptions import ConfigError
from trainwell.nn import ConvBlock, NetworkSpec, SymmetricInitWarning, build_network, make_loss
from trainwell.nn.losses import HierarchicalSoftmaxHead, MulticlassHinge
from trainwell.train import OPTIMIZERS, SCHEDULES


def _loss_went_down(est) -> tuple[float, float]:
    losses = est.history_.column("train_loss")
    return losses[0], min(losses[1:])


def small_clf(**kw):
    base = {"max_epochs": 15, "early_stopping": False, "random_state": 0, "device": "cpu", "hidden": (32,), "dropout": 0.0}
    base.update(kw)
    return NeuralNetClassifier(**base)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", ("leaky_relu", 0.2), "prelu"])
def test_every_activation_learns(iris, activation):
    X, y = iris
    est = small_clf(activation=activation).fit(X, y)
    first, best = _loss_went_down(est)
    assert best < 0.8 * first


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_learns(iris, optimizer):
    X, y = iris
    lr = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "adadelta": 1.0}.get(optimizer, 1e-2)
    est = small_clf(optimizer=optimizer, lr=lr).fit(X, y)
    first, best = _loss_went_down(est)
    assert best < 0.8 * first, (optimizer, first, best)


@pytest.mark.parametrize("loss", ["cross_entropy", "hinge", "squared_hinge", "hierarchical_softmax"])
def test_every_classification_loss_learns(iris, loss):
    X, y = iris
    est = small_clf(loss=loss, lr=1e-2).fit(X, y)
    first, best = _loss_went_down(est)
    assert best < 0.8 * first
    assert est.score(X, y) > 0.85
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)


def test_regression_loss_learns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = X @ rng.normal(size=5) + 0.1 * rng.normal(size=300)
    est = NeuralNetRegressor(max_epochs=30, early_stopping=False, random_state=0, device="cpu").fit(X, y)
    first, best = _loss_went_down(est)
    assert best < 0.5 * first
    assert est.score(X, y) > 0.9


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule_trains_and_moves_the_rate(iris, schedule):
    X, y = iris
    est = small_clf(lr_schedule=schedule, lr=1e-2).fit(X, y)
    first, best = _loss_went_down(est)
    assert best < 0.8 * first
    lrs = est.history_.column("lr")
    if schedule in ("step", "exponential", "cosine", "onecycle"):
        assert len(set(lrs)) > 1
    if schedule == "none":
        assert set(lrs) == {1e-2}


@pytest.mark.parametrize("init", ["he", "xavier", ("normal", 0.05)])
def test_random_inits_learn(iris, init):
    X, y = iris
    est = small_clf(init=init).fit(X, y)
    first, best = _loss_went_down(est)
    assert best < 0.8 * first


@pytest.mark.parametrize("init", ["zeros", ("constant", 0.3)])
def test_constant_init_warns_and_units_stay_equal(iris, init):
    X, y = iris
    with pytest.warns(SymmetricInitWarning, match="same"):
        est = small_clf(init=init, batchnorm=False, hidden=(8, 8)).fit(X, y)
    # every unit of the second hidden layer still has the same incoming weights
    w = est.network_.features[2].weight.detach()
    assert torch.allclose(w, w[0:1].expand_as(w), atol=1e-6)


def test_he_and_xavier_have_the_documented_scale():
    spec = NetworkSpec(kind="mlp", input_shape=(400,), n_outputs=3, hidden=(2000,), batchnorm=False)
    he = build_network(spec, torch.Generator().manual_seed(0)).features[0].weight
    assert he.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    spec = NetworkSpec(kind="mlp", input_shape=(400,), n_outputs=3, hidden=(2000,), activation="tanh", init="xavier")
    xavier = build_network(spec, torch.Generator().manual_seed(0)).features[0].weight
    # the notes' formula corrected: randn(n) * sqrt(1/n), i.e. divided by sqrt(n)
    assert xavier.std().item() == pytest.approx(math.sqrt(1 / 400), rel=0.02)


def test_init_auto_follows_the_activation():
    assert small_clf()._make_spec((4,), 3, 100, "cross_entropy").init == "he"
    assert small_clf(activation="tanh")._make_spec((4,), 3, 100, "cross_entropy").init == "xavier"


def test_batchnorm_sits_between_linear_and_activation():
    spec = NetworkSpec(kind="mlp", input_shape=(10,), n_outputs=2, hidden=(16, 8), dropout=0.1)
    net = build_network(spec)
    kinds = [type(m).__name__ for m in net.features]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2
    assert net.features[0].bias is None  # batch norm's shift replaces the bias


def test_cnn_batchnorm_is_per_channel():
    spec = NetworkSpec(kind="cnn", input_shape=(1, 12, 12), n_outputs=3, hidden=(8,), conv=(ConvBlock(4, 3, 2),))
    net = build_network(spec)
    assert type(net.features[1]).__name__ == "BatchNorm2d" and net.features[1].num_features == 4
    assert net(torch.zeros(5, 1, 12, 12)).shape == (5, 3)


def test_hinge_matches_cs231n_form():
    scores = torch.tensor([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = torch.tensor([0, 1, 2])
    # cs231n lecture 3 example: losses 2.9, 0, 12.9 -> mean 5.27
    assert MulticlassHinge()(scores, y).item() == pytest.approx((2.9 + 0 + 12.9) / 3, abs=1e-4)


def test_hierarchical_softmax_is_a_distribution_and_nll_matches_full():
    torch.manual_seed(0)
    head = HierarchicalSoftmaxHead(16, 103)
    h = torch.randn(7, 16)
    logp = head.log_proba(h)
    assert logp.shape == (7, 103)
    torch.testing.assert_close(logp.exp().sum(1), torch.ones(7))
    y = torch.randint(0, 103, (7,))
    full = -logp.gather(1, y[:, None]).mean()
    torch.testing.assert_close(head.nll(h, y), full)


def test_unknown_names_list_the_valid_ones(iris):
    X, y = iris
    for kw, word in [({"activation": "swish"}, "relu"), ({"optimizer": "lion"}, "adam"),
                     ({"loss": "focal"}, "cross_entropy"), ({"init": "orthogonal"}, "xavier"),
                     ({"lr_schedule": "warm"}, "cosine")]:
        with pytest.raises(ConfigError, match=word):
            small_clf(**kw).fit(X, y)


def test_l2_not_applied_to_biases_or_batchnorm():
    from trainwell.train.optim import decayed_parameters

    net = build_network(NetworkSpec(kind="mlp", input_shape=(4,), n_outputs=2, hidden=(8,)))
    decay, no_decay = decayed_parameters(net)
    assert {tuple(p.shape) for p in decay} == {(8, 4), (2, 8)}
    assert all(p.ndim == 1 for p in no_decay)


def test_l1_makes_weights_sparser(iris):
    X, y = iris
    dense = small_clf(l2=0.0, max_epochs=40, lr=1e-2).fit(X, y)
    sparse = small_clf(l2=0.0, l1=1e-2, max_epochs=40, lr=1e-2).fit(X, y)

    def small_fraction(est):
        w = est.network_.features[0].weight.detach().abs()
        return (w < 1e-2).float().mean().item()

    assert small_fraction(sparse) > small_fraction(dense) + 0.1


def test_l2_shrinks_weights(iris):
    X, y = iris
    weak = small_clf(l2=0.0, max_epochs=40).fit(X, y)
    strong = small_clf(l2=0.1, max_epochs=40).fit(X, y)
    norm = lambda e: e.network_.features[0].weight.detach().norm().item()  # noqa: E731
    assert norm(strong) < norm(weak)


def test_dropout_is_only_active_in_training(iris):
    p = 0.5
    X, y = iris
    est = small_clf(dropout=p, hidden=(256,), max_epochs=3).fit(X, y)
    net = copy.deepcopy(est.network_)
    drops = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 1 and drops[0].p == p
    Xt = torch.as_tensor(est.transform_.transform(X), dtype=torch.float32)

    # in training mode every forward pass draws a fresh mask that zeroes about p of the units
    seen = []
    drops[0].register_forward_hook(lambda module, inputs, output: seen.append((inputs[0], output)))
    net.train()
    torch.manual_seed(0)  # fixed masks: the share below is one fixed number, not a draw
    with torch.no_grad():
        first, second = net(Xt), net(Xt)
    assert not torch.equal(first, second)
    for inputs, output in seen:
        live = inputs != 0  # units the ReLU let through (its zeros stay zero either way)
        dropped = (output[live] == 0).double().mean().item()
        assert abs(dropped - p) < 0.02, dropped  # ~19,000 live units: the share's sd is about 0.004
        kept = output[live] != 0
        torch.testing.assert_close(output[live][kept], inputs[live][kept] / (1 - p))  # inverted dropout's scaling

    # at predict dropout is off: the probabilities are the eval-mode network's, the same on every call
    fresh = copy.deepcopy(est.network_).double().eval()  # a fresh copy: train mode moved batch norm's running stats
    with torch.no_grad():
        by_hand = torch.softmax(fresh(Xt.double()), dim=1).numpy()
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba, by_hand, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(est.predict_proba(X), proba)


def test_spec_roundtrips_through_json():
    import json

    spec = NetworkSpec(kind="cnn", input_shape=(1, 8, 8), n_outputs=4, conv=(ConvBlock(4, 3, 2),), activation="leaky_relu", activation_param=0.2)
    again = NetworkSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec


def test_make_loss_rejects_unknown():
    with pytest.raises(ConfigError, match="hinge"):
        make_loss("nope")


def test_zero_dropout_and_hidden_zero_rejected(iris):
    X, y = iris
    with pytest.raises(ConfigError, match="at least 1 unit"):
        small_clf(hidden=(0,)).fit(X, y)
    with pytest.raises(ConfigError, match="dropout"):
        small_clf(dropout=1.0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small_clf(dropout=0.0, max_epochs=2).fit(X, y)


def test_partial_fit_past_a_onecycle_plan_holds_its_final_rate():
    """partial_fit may go on past max_epochs: torch's OneCycleLR would raise there."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    clf = NeuralNetClassifier(lr_schedule="onecycle", max_epochs=2, device="cpu", diagnostics=False, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            clf.partial_fit(X[:500], y[:500], classes=np.arange(10))
    rates = clf.history_.column("lr")
    planned_end = 1e-3 / 25 / 1e4  # OneCycleLR's defaults: lr / div_factor / final_div_factor
    assert rates[0] > rates[1] and rates[1] == pytest.approx(planned_end)
    assert rates[2] == rates[3] == pytest.approx(planned_end)
    held = [w for w in caught if "finished the cycle" in str(w.message)]
    assert len(held) == 1
