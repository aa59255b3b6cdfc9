"""The CUDA path: steps replayed from CUDA graphs, channels-last convolutions, bf16.

Every test compares the GPU's fast path with the same run without it (``cuda_graphs=False``
launches each kernel from Python; ``channels_last=False`` keeps NCHW), so a wrong replay
(a stale batch, a learning rate baked into the graph, a missed step count) shows up as
different numbers. Run with ``python -m pytest -m gpu`` on a machine with CUDA.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from trainwell.diagnose import default_monitors
from trainwell.nn import ConvBlock, NetworkSpec, build_network, make_loss
from trainwell.train import TrainConfig, fit_loop
from trainwell.train.cuda_graph import GraphedSteps
from trainwell.train.fast_mlp import FastMLPStep
from trainwell.train.flat import FlatParameters
from trainwell.train.optim import make_flat_optimizer
from trainwell.train.update import FlatUpdate

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
CUDA = torch.device("cuda")


def _mlp(n_in=20, n_out=4, dropout=0.0, batchnorm=True, seed=0):
    spec = NetworkSpec(kind="mlp", input_shape=(n_in,), n_outputs=n_out, hidden=(32, 16), batchnorm=batchnorm,
                       dropout=dropout)
    return build_network(spec, generator=torch.Generator().manual_seed(seed)).to(CUDA)


def _cnn(n_out=4, seed=0):
    spec = NetworkSpec(kind="cnn", input_shape=(3, 16, 16), n_outputs=n_out, hidden=(),
                       conv=(ConvBlock(8), ConvBlock(16), ConvBlock(16, pool=0)))
    return build_network(spec, generator=torch.Generator().manual_seed(seed)).to(CUDA)


def _data(n, shape, n_out=4, regression=False, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, *shape, generator=g)
    if regression:
        y = torch.randn(n, n_out, generator=g)
    else:
        y = torch.randint(0, n_out, (n,), generator=g)
    return X.to(CUDA), y.to(CUDA)


def _train(net, X, y, callbacks=(), loss="cross_entropy", **config):
    config.setdefault("batch_size", 32)
    config.setdefault("max_epochs", 4)
    config.setdefault("classification", loss == "cross_entropy")
    gen = torch.Generator(device=CUDA).manual_seed(3)
    return fit_loop(net, make_loss(loss), (X, y), None, TrainConfig(**config), list(callbacks), generator=gen)


def _same_run(make_net, X, y, rtol=1e-4, atol=1e-5, **config):
    """Train twice from the same weights, with and without graphs; return both runs and nets."""
    torch.manual_seed(5)
    a_net = make_net()
    a = _train(a_net, X, y, cuda_graphs=True, **config)
    torch.manual_seed(5)
    b_net = make_net()
    b = _train(b_net, X, y, cuda_graphs=False, **config)
    assert a.cuda_graphs["used"], a.cuda_graphs["reason"]
    assert a.cuda_graphs["replays"] > 0
    assert not b.cuda_graphs["used"]
    for ra, rb in zip(a.history, b.history, strict=True):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=rtol)
        metric = "train_accuracy" if "train_accuracy" in ra else "train_r2"
        assert ra[metric] == pytest.approx(rb[metric], rel=rtol, abs=1e-6)
        assert ra["lr"] == rb["lr"]
    for pa, pb in zip(a_net.state_dict().values(), b_net.state_dict().values(), strict=True):
        torch.testing.assert_close(pa.float(), pb.float(), rtol=rtol * 10, atol=atol)
    return a, b


@pytest.mark.parametrize("regression", [False, True])
def test_fast_mlp_replayed_from_a_graph_matches_eager_launches(regression):
    # 200 rows at batch 32: six full batches replay, a ragged last batch of 8 runs eagerly
    X, y = _data(200, (20,), regression=regression)
    a, _ = _same_run(_mlp, X, y, loss="mse" if regression else "cross_entropy")
    assert a.fast_path["used"]
    assert a.cuda_graphs["replays"] == 4 * 6 - 2  # every full batch but the two warm-up steps


def test_batch_norm_step_counts_and_running_statistics_survive_replay():
    X, y = _data(200, (20,))
    a_net, b_net = _mlp(), _mlp()
    _train(a_net, X, y, cuda_graphs=True)
    _train(b_net, X, y, cuda_graphs=False)
    bn_a = [m for m in a_net.modules() if isinstance(m, nn.BatchNorm1d)]
    bn_b = [m for m in b_net.modules() if isinstance(m, nn.BatchNorm1d)]
    for ma, mb in zip(bn_a, bn_b, strict=True):
        assert int(ma.num_batches_tracked) == int(mb.num_batches_tracked) == 4 * 7
        torch.testing.assert_close(ma.running_mean, mb.running_mean, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(ma.running_var, mb.running_var, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("schedule", ["step", "cosine", "plateau"])
def test_learning_rate_schedules_reach_the_replayed_optimizer(schedule):
    # the rate is a device tensor the graph reads: a baked-in rate would diverge from eager
    X, y = _data(256, (20,))
    a, _ = _same_run(_mlp, X, y, lr_schedule=schedule, max_epochs=6, lr=3e-3)
    assert len({row["lr"] for row in a.history}) > 1 or schedule == "plateau"


def test_one_cycle_falls_back_to_eager_launches_and_says_why():
    X, y = _data(128, (20,))
    run = _train(_mlp(), X, y, lr_schedule="onecycle", cuda_graphs=True)
    assert not run.cuda_graphs["used"]
    assert "momentum" in run.cuda_graphs["reason"]


def test_sgd_with_momentum_replays():
    X, y = _data(200, (20,))
    _same_run(_mlp, X, y, optimizer="momentum", lr=0.05)


def test_dropout_draws_a_fresh_mask_on_every_replay():
    # a graph that replayed one dropout mask would train on one sub-network only
    net = _mlp(dropout=0.5)
    flat = FlatParameters(net)
    update = FlatUpdate(flat, make_flat_optimizer("adam", flat, 1e-3, 0.9, 0.0))
    update.use_tensor_lr()
    fast = FastMLPStep(net, make_loss("cross_entropy"), flat, update)
    X, y = _data(32 * 6, (20,))
    loss_sum = torch.zeros((), device=CUDA)
    graphed = GraphedSteps(fast.device_step, fast.host_step, X, y, 32, lambda xb: xb, loss_sum, None, True)
    graphed.start_epoch(torch.arange(X.shape[0], device=CUDA))
    noise = fast._buffers_for(32)[0][0].noise
    masks = []
    for start in range(0, 6 * 32, 32):
        graphed(start)
        masks.append(noise.clone())
    assert graphed.replays == 4
    for earlier, later in zip(masks[2:], masks[3:], strict=False):
        assert not torch.equal(earlier, later)
        assert 0.4 < float((later == 0).float().mean()) < 0.6


def test_dropout_runs_learn_alike_with_and_without_graphs():
    X, y = _data(512, (20,))
    y = (X[:, 0] > 0).long()
    first, last = [], []
    for graphs in (True, False):
        torch.manual_seed(5)
        run = _train(_mlp(dropout=0.3), X, y, cuda_graphs=graphs, max_epochs=15, lr=3e-3)
        first.append(run.history[0]["train_loss"])
        last.append(run.history[-1]["train_loss"])
    assert last[0] < 0.7 * first[0] and last[1] < 0.7 * first[1]
    assert last[0] == pytest.approx(last[1], rel=0.3)


def test_watched_steps_in_between_replays_continue_the_same_run():
    X, y = _data(512, (20,))
    torch.manual_seed(5)
    a_net, b_net = _mlp(), _mlp()
    a = _train(a_net, X, y, default_monitors(), cuda_graphs=True)
    b = _train(b_net, X, y, default_monitors(), cuda_graphs=False)
    assert a.cuda_graphs["replays"] > 0
    for ra, rb in zip(a.history, b.history, strict=True):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-4)
    for pa, pb in zip(a_net.parameters(), b_net.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-5)


def test_cnn_autograd_step_replays_with_channels_last_weights():
    X, y = _data(160, (3, 16, 16))
    # cuDNN's autotuner may pick another algorithm in each run: equal up to its rounding
    a, _ = _same_run(_cnn, X, y, rtol=1e-3, atol=1e-3)
    assert not a.fast_path["used"]
    net = _cnn()
    _train(net, X, y, cuda_graphs=True, max_epochs=1)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert all(c.weight.grad.is_contiguous(memory_format=torch.channels_last) for c in convs)


def test_channels_last_trains_the_same_function_as_nchw():
    X, y = _data(160, (3, 16, 16))
    a_net, b_net = _cnn(), _cnn()
    a = _train(a_net, X, y, channels_last=True, cuda_graphs=False)
    b = _train(b_net, X, y, channels_last=False, cuda_graphs=False)
    assert not any(m.weight.is_contiguous(memory_format=torch.channels_last) and not m.weight.is_contiguous()
                   for m in b_net.modules() if isinstance(m, nn.Conv2d))
    for ra, rb in zip(a.history, b.history, strict=True):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=2e-3)


def test_bf16_cnn_replays_and_learns():
    X, y = _data(256, (3, 16, 16))
    y = (X[:, 0].mean((1, 2)) > 0).long()  # a learnable rule
    run = _train(_cnn(n_out=2), X, y, bf16=True, cuda_graphs=True, max_epochs=8, lr=3e-3)
    assert run.cuda_graphs["used"] and run.cuda_graphs["replays"] > 0
    assert run.history[-1]["train_accuracy"] > 0.8


def test_estimators_on_cuda_save_load_and_agree_with_the_cpu(tmp_path, digits_split):
    from trainwell import NeuralNetClassifier, load

    X_train, X_test, y_train, y_test = digits_split
    gpu = NeuralNetClassifier(device="cuda", random_state=0, max_epochs=30).fit(X_train, y_train)
    cpu = NeuralNetClassifier(device="cpu", random_state=0, max_epochs=30).fit(X_train, y_train)
    assert gpu.run_.cuda_graphs["used"] and gpu.run_.cuda_graphs["replays"] > 0
    assert gpu.score(X_test, y_test) > 0.95
    assert abs(gpu.score(X_test, y_test) - cpu.score(X_test, y_test)) < 0.03
    gpu.save(str(tmp_path / "m"))
    again = load(tmp_path / "m", device="cpu")
    np.testing.assert_allclose(again.predict_proba(X_test), gpu.predict_proba(X_test), atol=1e-5)


def test_one_epoch_per_call_captures_anew_and_trains_like_one_call():
    # partial_fit-style calls: each call captures its own graphs (two warm-up steps) and frees them
    X, y = _data(200, (20,))
    net = _mlp()
    config = TrainConfig(batch_size=32, max_epochs=10**6)
    gen = torch.Generator(device=CUDA).manual_seed(3)
    run, loss = None, make_loss("cross_entropy")
    for _ in range(3):
        run = fit_loop(net, loss, (X, y), None, config, generator=gen, run=run, epochs=1)
        assert run.cuda_graphs["used"] and run.cuda_graphs["replays"] == 6 - 2
    whole = _mlp()
    gen = torch.Generator(device=CUDA).manual_seed(3)
    once = fit_loop(whole, make_loss("cross_entropy"), (X, y), None, TrainConfig(batch_size=32, max_epochs=3),
                    generator=gen)
    for ra, rb in zip(run.history, once.history, strict=True):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-4)
