"""The training loop itself: its per-epoch numbers, batching, watched steps and paths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainwell.nn import NetworkSpec, build_network, make_loss
from trainwell.train import Callback, TrainConfig, evaluate, fit_loop


def _net(n_out=3, batchnorm=False, hidden=(8,)):
    spec = NetworkSpec(kind="mlp", input_shape=(5,), n_outputs=n_out, hidden=hidden, batchnorm=batchnorm)
    return build_network(spec, generator=torch.Generator().manual_seed(0))


def _data(n=70, regression=False):
    g = torch.Generator().manual_seed(2)
    X = torch.randn(n, 5, generator=g)
    y = torch.randn(n, 2, generator=g) if regression else torch.randint(0, 3, (n,), generator=g)
    return X, y


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("regression", [False, True])
def test_epoch_metrics_equal_a_separate_evaluation_when_nothing_learns(fast, regression):
    # lr = 0 and no batch norm: training-mode outputs equal eval-mode ones and the weights
    # never move, so the epoch's accumulated loss and accuracy/R² must equal evaluate()'s.
    X, y = _data(regression=regression)
    net = _net(n_out=2 if regression else 3)
    loss = make_loss("mse" if regression else "cross_entropy")
    config = TrainConfig(lr=0.0, l2=0.0, batch_size=16, max_epochs=2, fast=fast, classification=not regression)
    run = fit_loop(net, loss, (X, y), None, config)
    expected = evaluate(net, loss, X, y, classification=not regression).tolist()
    metric = "train_r2" if regression else "train_accuracy"
    for row in run.history:
        assert row["train_loss"] == pytest.approx(expected[0], rel=1e-5)
        assert row[metric] == pytest.approx(expected[1], rel=1e-5, abs=1e-6)
    assert run.fast_path["used"] is fast


def test_a_last_batch_of_one_is_skipped_with_batch_norm_only():
    X, y = _data(n=33)
    seen = []

    class Count(Callback):
        def wants_step(self, run):
            return True

        def on_step_begin(self, run):
            seen.append(run.batch[0].shape[0])

    fit_loop(_net(batchnorm=True), make_loss("cross_entropy"), (X, y), None,
             TrainConfig(batch_size=16, max_epochs=1), [Count()])
    assert seen == [16, 16]
    seen.clear()
    fit_loop(_net(batchnorm=False), make_loss("cross_entropy"), (X, y), None,
             TrainConfig(batch_size=16, max_epochs=1), [Count()])
    assert seen == [16, 16, 1]


def test_every_sample_is_seen_once_per_epoch_and_batches_are_kept_intact():
    X, y = _data(n=50)
    X[:, 0] = torch.arange(50, dtype=X.dtype)  # a row id in the first feature
    batches = []

    class Keep(Callback):
        def wants_step(self, run):
            return run.step % 2 == 0

        def on_step_end(self, run):
            batches.append(run.batch)  # kept beyond the step on purpose

    run = fit_loop(_net(), make_loss("cross_entropy"), (X, y), None, TrainConfig(batch_size=8, max_epochs=1),
                   [Keep()], generator=torch.Generator().manual_seed(0))
    assert run.fast_path["used"]
    # the kept batches still hold the rows they were given: ids and labels agree with X, y
    for xb, yb in batches:
        ids = xb[:, 0].long()
        assert torch.equal(y[ids], yb)
        assert torch.equal(X[ids], xb)
    order = torch.randperm(50, generator=torch.Generator().manual_seed(0))
    got = torch.cat([xb[:, 0].long() for xb, _ in batches])
    assert torch.equal(got, torch.cat([order[i:i + 8] for i in range(0, 50, 16)]))


def test_continuing_a_run_keeps_its_optimizer_and_counts_steps():
    X, y = _data(n=64)
    net = _net()
    config = TrainConfig(batch_size=16, max_epochs=10)
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, config, epochs=2)
    optimizer = run.optimizer
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, config, run=run, epochs=1)
    assert run.optimizer is optimizer
    assert [r["epoch"] for r in run.history] == [1, 2, 3]
    assert run.step == 12
    assert all(s["step"].item() == 12 for s in optimizer.state.values())


def test_fast_switch_off_keeps_per_layer_parameters():
    net = _net()
    X, y = _data()
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, TrainConfig(batch_size=16, max_epochs=1, fast=False))
    assert run._loop.flat is None
    assert run.fast_path == {"used": False, "reason": "config.fast is off"}
    assert len([p for g in run.optimizer.param_groups for p in g["params"]]) == len(list(net.parameters()))


def test_a_network_with_frozen_parameters_trains_without_flattening():
    net = _net()
    net.features[0].weight.requires_grad_(False)
    frozen = net.features[0].weight.detach().clone()
    X, y = _data()
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, TrainConfig(batch_size=16, max_epochs=2))
    assert run._loop.flat is None
    assert "frozen" in run.fast_path["reason"]
    assert torch.equal(net.features[0].weight, frozen)


def test_hooks_left_on_the_network_send_steps_to_autograd():
    net = _net()
    calls = []
    net.features[0].register_forward_hook(lambda *_: calls.append(1))
    X, y = _data(n=48)
    fit_loop(net, make_loss("cross_entropy"), (X, y), None, TrainConfig(batch_size=16, max_epochs=2))
    assert len(calls) == 6  # every training step ran the module (evaluation is not called without val)


def test_diverging_run_stops_with_a_reason():
    net = nn.Sequential(nn.Linear(5, 3))
    X, y = _data()
    X = X * 1e30
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, TrainConfig(lr=1e10, batch_size=16, max_epochs=5))
    assert run.stop_requested and "diverged" in run.stop_reason


class _AskedAtStepOne(Callback):
    """Wants every step it is asked about, but names only step 1 of each epoch ahead."""

    def __init__(self, schedule: bool) -> None:
        self.schedule, self.asked, self.watched = schedule, [], []

    def steps_wanted(self, run):
        return frozenset({1}) if self.schedule else None

    def wants_step(self, run):
        self.asked.append(run.step)
        return True

    def on_step_begin(self, run):
        self.watched.append(run.step)


@pytest.mark.parametrize("schedule", [True, False])
def test_the_loop_asks_only_before_the_steps_a_callback_names_ahead(schedule):
    X, y = _data(n=64)
    config = TrainConfig(lr=1e-2, batch_size=16, max_epochs=2)  # 4 steps an epoch
    cb = _AskedAtStepOne(schedule)
    fit_loop(_net(), make_loss("cross_entropy"), (X, y), None, config, callbacks=[cb])
    expected = [1, 5] if schedule else list(range(8))  # None: asked before every step, as before
    assert cb.asked == cb.watched == expected


def test_an_observer_left_on_the_network_sees_the_validation_pass():
    """The fast step trains with observer hooks on; the validation pass then runs the modules
    (a hook expects the module's forward), so the hook sees the validation rows too."""
    from trainwell.train.fast_mlp import observer

    X, y = _data(n=64)
    Xv, yv = _data(n=24)
    net = _net(batchnorm=True)
    seen = []
    net.features[2].register_forward_hook(observer(lambda module, inputs, output: seen.append(output.shape[0])))
    config = TrainConfig(lr=1e-2, batch_size=16, max_epochs=2)
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), (Xv, yv), config)
    assert run.fast_path["used"]
    assert seen.count(24) == 2 and seen.count(16) == 8  # two validation passes, eight training steps
