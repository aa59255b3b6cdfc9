"""Monitors: each probe against an independent computation (torch.autograd, numpy), and on a
case that must trigger it and one that must not."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_diabetes

from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.diagnose import default_monitors
from trainwell.diagnose.probes import (
    ActivationProbe,
    DivergenceGuard,
    GradientProbe,
    TargetRangeProbe,
    TrendProbe,
    UpdateRatioProbe,
    WeightProbe,
    find_layers,
)
from trainwell.train import Callback, RunState


class KeepInitial(Callback):
    """Keep a copy of the untrained network (the oracle computes on it)."""

    def on_fit_begin(self, run: RunState) -> None:
        self.net = copy.deepcopy(run.net)


class Inject(Callback):
    """Change the network before training (a fault the estimator cannot express)."""

    def __init__(self, change) -> None:
        self.change = change

    def on_fit_begin(self, run: RunState) -> None:
        with torch.no_grad():
            self.change(run.net)


def full_batch_fit(X, y, probes, epochs=1, **params):
    """One full-batch step per epoch: the watched batch is the whole (shuffled) training set,
    so per-batch statistics equal statistics over all rows, whatever the permutation."""
    keep = KeepInitial()
    params.setdefault("device", "cpu")  # the checks below recompute on the CPU what the probes measured
    est = NeuralNetClassifier(diagnostics=False, batch_size=len(y), max_epochs=epochs, early_stopping=False, random_state=0,
                              dropout=0.0, **params)
    est.set_params(callbacks=[keep, *probes])
    est.fit(X, y)
    Xt = torch.from_numpy(est.transform_.transform(X))
    yt = torch.from_numpy(np.searchsorted(est.classes_, y))
    return est, keep.net, Xt, yt


def activations_after(net, X):
    """Outputs of every activation module of ``net.features`` on ``X`` (train mode, as in a step)."""
    net.train()
    outs, h = [], X
    with torch.no_grad():
        for module in net.features:
            h = module(h)
            if isinstance(module, (torch.nn.ReLU, torch.nn.Tanh, torch.nn.Sigmoid)):
                outs.append(h.clone())
    return outs


def test_find_layers_names_and_activations():
    est = NeuralNetClassifier(diagnostics=False, hidden=(8, 4), activation="tanh", max_epochs=1, random_state=0)
    X = np.random.default_rng(0).normal(size=(40, 3))
    est.fit(X, np.arange(40) % 2)
    layers = find_layers(est.network_)
    assert [layer.name for layer in layers] == ["dense1", "dense2", "output"]
    assert [layer.activation_kind for layer in layers] == ["tanh", "tanh", None]
    assert layers[0].weights[0].shape == (8, 3)


def test_activation_stats_match_a_direct_forward_pass(iris):
    X, y = iris
    est, net0, Xt, _ = full_batch_fit(X, y, [ActivationProbe()], hidden=(16, 8), batchnorm=False)
    expected = activations_after(net0, Xt)
    row = est.history_[0]["layers"]
    for name, a in zip(["dense1", "dense2"], expected, strict=True):
        assert row[name]["act_mean"] == pytest.approx(float(a.mean()), rel=1e-5)
        assert row[name]["act_std"] == pytest.approx(float(a.std()), rel=1e-5)
        dead = 1.0 - float((a > 0).any(0).float().mean())
        assert row[name]["dead_fraction"] == pytest.approx(dead)
        hist = row[name]["act_hist"]
        assert sum(hist["counts"]) > 0 and len(hist["edges"]) == len(hist["counts"]) + 1


def test_dead_relu_fraction_triggers_on_negative_bias_and_not_on_he_init(iris):
    X, y = iris

    def kill_half(net):  # biases so negative that half of dense1's units never fire
        layer = net.features[0]
        layer.bias[: layer.out_features // 2] = -1e3

    est, *_ = full_batch_fit(X, y, [Inject(kill_half), ActivationProbe()], hidden=(16,), batchnorm=False)
    assert est.history_[0]["layers"]["dense1"]["dead_fraction"] >= 0.5
    healthy, *_ = full_batch_fit(X, y, [ActivationProbe()], hidden=(16,), batchnorm=False)
    assert healthy.history_[0]["layers"]["dense1"]["dead_fraction"] < 0.2


def test_saturation_triggers_on_large_tanh_weights_and_not_on_xavier(iris):
    X, y = iris
    big, net0, Xt, _ = full_batch_fit(X, y, [ActivationProbe()], hidden=(32, 32), activation="tanh",
                                      init=("normal", 3.0), batchnorm=False)
    a = activations_after(net0, Xt)[1]
    saturated = big.history_[0]["layers"]["dense2"]["saturated_fraction"]
    assert saturated == pytest.approx(float((a.abs() > 0.99).float().mean()), abs=1e-6)
    assert saturated > 0.5
    fine, *_ = full_batch_fit(X, y, [ActivationProbe()], hidden=(32, 32), activation="tanh", batchnorm=False)
    assert fine.history_[0]["layers"]["dense2"]["saturated_fraction"] < 0.1


def test_gradient_norms_match_autograd(iris):
    X, y = iris
    est, net0, Xt, yt = full_batch_fit(X, y, [GradientProbe()], hidden=(16, 8), batchnorm=False)
    net0.train()
    loss = F.cross_entropy(net0(Xt), yt)
    loss.backward()
    row = est.history_[0]["layers"]
    for name, layer in zip(["dense1", "dense2", "output"], find_layers(net0), strict=True):
        g = layer.weights[0].grad
        assert row[name]["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-4)
        assert row[name]["grad_rms"] == pytest.approx(float(g.norm()) / math.sqrt(g.numel()), rel=1e-4)


def test_update_ratio_is_lr_times_gradient_over_weight_for_plain_sgd(iris):
    X, y = iris
    lr = 0.05
    est, net0, Xt, yt = full_batch_fit(X, y, [UpdateRatioProbe()], hidden=(16,), batchnorm=False,
                                       optimizer="sgd", lr=lr, l2=0.0)
    net0.train()
    F.cross_entropy(net0(Xt), yt).backward()
    w = find_layers(net0)[0].weights[0]
    expected = lr * float(w.grad.norm()) / float(w.detach().norm())
    assert est.history_[0]["layers"]["dense1"]["update_ratio"] == pytest.approx(expected, rel=1e-4)


def test_weight_probe_norms_symmetry_and_first_layer_snapshot(iris):
    X, y = iris
    est, net0, _, _ = full_batch_fit(X, y, [WeightProbe()], epochs=2, hidden=(16,))
    row = est.history_[-1]["layers"]["dense1"]
    w = est.network_.features[0].weight.detach()
    assert row["weight_norm"] == pytest.approx(float(w.norm()), rel=1e-5)
    assert row["row_spread"] > 0.5  # random rows differ
    snap = est.run_.first_layer_weights
    np.testing.assert_allclose(snap["initial"], net0.features[0].weight.detach().numpy())
    np.testing.assert_allclose(snap["final"], w.numpy())
    assert est.run_.initial_weight_rms["dense1"] == pytest.approx(
        float(net0.features[0].weight.detach().norm()) / math.sqrt(w.numel()), rel=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zero, *_ = full_batch_fit(X, y, [WeightProbe()], hidden=(16,), init="zeros")
    assert zero.history_[-1]["layers"]["dense1"]["row_spread"] == 0.0


def test_trend_probe_initial_loss_gap_and_plateau(iris):
    X, y = iris
    est, net0, Xt, yt = full_batch_fit(X, y, [TrendProbe()], epochs=3, hidden=(16,), batchnorm=False)
    net0.train()
    with torch.no_grad():
        first = float(F.cross_entropy(net0(Xt), yt))
    assert est.run_.initial_loss == pytest.approx(first, rel=1e-5)
    h = est.history_
    assert [r["loss_vs_first"] for r in h] == pytest.approx([r["train_loss"] / h[0]["train_loss"] for r in h])
    assert "generalization_gap" not in h[0]  # no validation split here

    with_val = NeuralNetClassifier(diagnostics=False, max_epochs=6, patience=50, random_state=0, callbacks=[TrendProbe()]).fit(X, y)
    for r in with_val.history_:
        assert r["generalization_gap"] == pytest.approx(r["val_loss"] - r["train_loss"])
    val = with_val.history_.column("val_loss")
    best = int(np.argmin(val))
    assert with_val.history_[-1]["val_plateau_epochs"] <= len(val) - 1 - best + 1


def test_target_range_probe_counts_targets_outside_the_sigmoid():
    X, y = load_diabetes(return_X_y=True)
    y100 = (y - y.min()) / (y.max() - y.min()) * 100
    est = NeuralNetRegressor(diagnostics=False, output_activation="sigmoid", target_scaling="none", batch_size=len(y), max_epochs=1,
                             early_stopping=False, random_state=0, callbacks=[TargetRangeProbe()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y100)
    outside = float(((y100 < 0) | (y100 > 1)).mean())
    assert est.history_[0]["targets_outside_output"] == pytest.approx(outside, rel=1e-6)
    fine = NeuralNetRegressor(diagnostics=False, output_activation="sigmoid", max_epochs=1, random_state=0,
                              callbacks=[TargetRangeProbe()]).fit(X, y)
    assert fine.history_[0]["targets_outside_output"] == 0.0
    plain = NeuralNetRegressor(diagnostics=False, max_epochs=1, random_state=0, callbacks=[TargetRangeProbe()]).fit(X, y)
    assert "targets_outside_output" not in plain.history_[0]  # identity output: nothing to check


def test_divergence_guard_restores_last_finite_weights_unit():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    run = RunState(net=net, optimizer=None, loss_fn=None, config=None)
    guard = DivergenceGuard()
    guard.on_fit_begin(run)
    run.epoch = 1
    run.history.append({"train_loss": 0.5})
    guard.on_epoch_end(run)
    good = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        net[0].weight.add_(1.0)
    run.epoch = 2
    run.history.append({"train_loss": 0.4})
    guard.on_epoch_end(run)  # a finite epoch: its weights become the fallback
    good = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        net[0].weight.fill_(float("nan"))
    run.epoch = 3
    run.history.append({"train_loss": float("nan")})
    guard.on_epoch_end(run)
    assert torch.equal(net[0].weight, good["0.weight"])
    assert run.stop_requested and "epoch 2" in run.stop_reason
    assert run.diverged == {"epoch": 3, "loss": pytest.approx(float("nan"), nan_ok=True), "restored_epoch": 2,
                            "initial_loss": None}


def test_divergence_guard_on_a_real_diverging_run_and_not_on_a_healthy_one():
    X, y = load_diabetes(return_X_y=True)
    est = NeuralNetRegressor(diagnostics=False, optimizer="sgd", lr=10.0, batchnorm=False, max_epochs=5, early_stopping=False,
                             dropout=0.0, random_state=0, callbacks=[DivergenceGuard()]).fit(X, y)
    assert not math.isfinite(est.history_[-1]["train_loss"])
    assert "restored" in est.stop_reason_
    assert all(torch.isfinite(p).all() for p in est.network_.parameters())
    assert np.isfinite(est.predict(X)).all()
    healthy = NeuralNetRegressor(diagnostics=False, max_epochs=3, random_state=0, callbacks=[DivergenceGuard()]).fit(X, y)
    assert healthy.run_.diverged is None


class CountSteps(Callback):
    def __init__(self) -> None:
        self.count = 0

    def on_step_begin(self, run: RunState) -> None:
        self.count += 1


class CountingProbe(ActivationProbe):
    def on_step_begin(self, run: RunState) -> None:
        super().on_step_begin(run)
        self.watched = getattr(self, "watched", 0) + 1


def test_probes_watch_only_their_sampled_steps_and_leave_no_hooks(digits_split):
    X, _, y, _ = digits_split
    probe = CountingProbe(per_epoch=3)
    est = NeuralNetClassifier(diagnostics=False, max_epochs=2, batch_size=64, early_stopping=False, random_state=0, callbacks=[probe])
    est.fit(X, y)
    assert probe.watched == 3 * 2
    assert all(not m._forward_hooks for m in est.network_.modules())


def test_monitors_do_not_change_training(digits_split):
    X, _, y, _ = digits_split
    plain = NeuralNetClassifier(diagnostics=False, max_epochs=3, random_state=0).fit(X, y)
    watched = NeuralNetClassifier(diagnostics=False, max_epochs=3, random_state=0, callbacks=default_monitors()).fit(X, y)
    # Watched steps run on autograd, unwatched ones may take the hand-derived fast step: equal up to
    # float rounding. A probe that drew random numbers would change the shuffling and differ by far more.
    assert watched.history_.column("train_loss") == pytest.approx(plain.history_.column("train_loss"), rel=1e-4)
    assert watched.history_.column("val_loss") == pytest.approx(plain.history_.column("val_loss"), rel=1e-4)
    layers = watched.history_[-1]["layers"]
    assert set(layers) == {"dense1", "dense2", "output"}
    assert {"act_mean", "dead_fraction", "grad_norm", "update_ratio", "weight_norm", "row_spread"} <= set(layers["dense1"])
    assert "layers" not in watched.history_.to_frame()  # nested statistics stay out of the flat table


def test_monitors_on_a_cnn_record_per_channel_dead_fractions():
    rng = np.random.default_rng(0)
    X = rng.random((64, 12, 12)).astype(np.float32)
    y = np.arange(64) % 2
    est = NeuralNetClassifier(diagnostics=False, conv=((4, 3, 2),), hidden=(8,), max_epochs=1, random_state=0,
                              callbacks=default_monitors()).fit(X, y)
    layers = est.history_[0]["layers"]
    assert set(layers) == {"conv1", "dense1", "output"}
    assert 0.0 <= layers["conv1"]["dead_fraction"] <= 1.0
    assert layers["conv1"]["grad_norm"] > 0


# ---------------------------------------------------------------- which epochs are watched
def test_epoch_stride_keeps_watched_steps_near_their_share():
    from trainwell.diagnose.probes.base import MAX_EPOCH_STRIDE, WATCH_SHARE, epoch_stride

    assert epoch_stride(2, 200, 200) == 1  # long epochs: every epoch
    assert epoch_stride(2, 80, 200) == 1  # exactly the share (2.5 %)
    assert epoch_stride(2, 79, 200) == 2
    assert epoch_stride(2, 16, 200) == 5  # Auto MPG: 2 of 16 steps -> every 5th epoch
    assert epoch_stride(2, 3, 200) == MAX_EPOCH_STRIDE  # capped
    assert epoch_stride(2, 3, 20) == 2  # at least a tenth of max_epochs watched
    assert epoch_stride(2, 3, 9) == 1  # a short run: every epoch
    for steps in range(1, 100):
        stride = epoch_stride(2, steps, 200)
        share = min(2, steps) / (steps * stride)
        assert share <= WATCH_SHARE or stride == MAX_EPOCH_STRIDE


def test_short_epochs_are_watched_every_few_epochs_and_the_rules_still_read_them():
    from sklearn.datasets import load_wine

    from trainwell.diagnose.probes.base import epoch_stride

    X, y = load_wine(return_X_y=True)
    est = NeuralNetClassifier(max_epochs=40, early_stopping=False, random_state=0)
    est.fit(X, y)
    steps = est.run_.steps_per_epoch
    stride = epoch_stride(2, steps, 40)
    assert stride > 1  # a small table's short epochs
    watched = [i for i, row in enumerate(est.history_) if "layers" in row]
    assert watched == list(range(0, 40, stride))  # the first epoch, then every stride-th
    for i in watched:  # a watched epoch has the whole record
        layers = est.history_[i]["layers"]
        assert {"act_mean", "dead_fraction", "grad_rms", "update_ratio", "weight_rms"} <= set(layers["dense1"])
    assert est.run_.initial_grad_rms  # from the first watched step: the untrained network
    # a watched step is the same fast step (the monitors' hooks only read): bit for bit the same run
    assert est.run_.fast_path["used"]
    plain = NeuralNetClassifier(max_epochs=40, early_stopping=False, random_state=0, diagnostics=False).fit(X, y)
    assert est.history_.column("train_loss") == plain.history_.column("train_loss")
    assert est.history_.column("val_loss") == plain.history_.column("val_loss")
    mine, theirs = est.network_.state_dict(), plain.network_.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_a_hook_that_is_not_an_observer_sends_the_watched_step_to_autograd():
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    calls = []

    class LinearHook(Callback):  # a hook on a Linear module: the fast step cannot call it
        def wants_step(self, run):
            return run.step == 0

        def on_step_begin(self, run):
            self.handle = run.net.features[0].register_forward_hook(lambda m, i, o: calls.append(o.shape))

        def on_step_end(self, run):
            self.handle.remove()

    NeuralNetClassifier(max_epochs=1, random_state=0, diagnostics=False, callbacks=[LinearHook()]).fit(X, y)
    assert calls and calls[0][1] == 128  # the module ran: the step went through autograd

    # which hooks the fast step honours: observer forward hooks on its activation modules, nothing else
    from trainwell.train.fast_mlp import has_hooks, observer, parse_mlp

    net = NeuralNetClassifier(max_epochs=1, random_state=0).fit(X, y).network_
    blocks = parse_mlp(net)
    observed = frozenset(id(b.act_module) for b in blocks[:-1])
    relu, linear = blocks[0].act_module, blocks[0].linear
    assert not has_hooks(net, observed)
    for module, hook, honoured in ((relu, observer(lambda m, i, o: None), True),
                                   (relu, lambda m, i, o: None, False),  # might return a new output
                                   (linear, observer(lambda m, i, o: None), False)):  # the step calls no Linear
        handle = module.register_forward_hook(hook)
        assert has_hooks(net, observed) is not honoured
        assert has_hooks(net)  # graphs honour none
        handle.remove()
