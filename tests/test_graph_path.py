"""The CUDA-graph path's bookkeeping, checked on the CPU.

With ``cuda_graph.EMULATE`` on, the loop takes the graph path on any device and runs its
steps eagerly instead of replaying a capture: the batch comes from the device-side position
counter, the learning rate from the optimizer's device tensor, losses and predictions are
written at the batch's positions, the host does the step counts. Every number must equal the
normal loop's, up to the rounding of a learning rate passed to the fused optimizer as a
float32 tensor instead of a Python float. (The replay itself needs CUDA: ``tests/test_cuda.py``.)
"""

from __future__ import annotations

import gc

import pytest
import torch

from trainwell.data.features import FeatureTransform
from trainwell.data.on_device import DeviceScaler
from trainwell.diagnose import default_monitors
from trainwell.nn import ConvBlock, NetworkSpec, build_network, make_loss
from trainwell.train import TrainConfig, cuda_graph, fit_loop


@pytest.fixture
def emulate(monkeypatch):
    monkeypatch.setattr(cuda_graph, "EMULATE", True)


def _mlp(n_out=3, dropout=0.0, seed=0):
    spec = NetworkSpec(kind="mlp", input_shape=(6,), n_outputs=n_out, hidden=(16, 8), dropout=dropout)
    return build_network(spec, generator=torch.Generator().manual_seed(seed))


def _cnn(seed=0):
    spec = NetworkSpec(kind="cnn", input_shape=(2, 8, 8), n_outputs=3, hidden=(), conv=(ConvBlock(4), ConvBlock(4)))
    return build_network(spec, generator=torch.Generator().manual_seed(seed))


def _data(n=90, shape=(6,), regression=False, n_out=3):
    g = torch.Generator().manual_seed(1)
    X = torch.randn(n, *shape, generator=g)
    y = torch.randn(n, n_out, generator=g) if regression else torch.randint(0, n_out, (n,), generator=g)
    return X, y


def _run(make_net, X, y, emulated, monkeypatch, callbacks=(), loss="cross_entropy", rows=None, **config):
    monkeypatch.setattr(cuda_graph, "EMULATE", emulated)
    torch.manual_seed(7)
    net = make_net()
    config.setdefault("batch_size", 16)
    config.setdefault("max_epochs", 4)
    config.setdefault("classification", loss != "mse")
    run = fit_loop(net, make_loss(loss), (X, y), None, TrainConfig(**config), list(callbacks),
                   generator=torch.Generator().manual_seed(3), rows=rows)
    return run, net


def _assert_same(make_net, X, y, monkeypatch, rows_apart=0, **kwargs):
    """``rows_apart``: how many training predictions may differ (a near-tie of two classes'
    scores, which the rate's float32 rounding can tip)."""
    a, a_net = _run(make_net, X, y, True, monkeypatch, **kwargs)
    b, b_net = _run(make_net, X, y, False, monkeypatch, **kwargs)
    assert a.cuda_graphs["used"], a.cuda_graphs["reason"]
    assert a.cuda_graphs["replays"] > 0
    assert not b.cuda_graphs["used"]
    for ra, rb in zip(a.history, b.history, strict=True):
        assert ra.keys() == rb.keys()
        for key in ra.keys() - {"seconds"}:
            if isinstance(ra[key], float):  # (the monitors' nested diagnostics follow from these)
                slack = rows_apart / len(X) if key == "train_accuracy" else 0.0
                assert ra[key] == pytest.approx(rb[key], rel=1e-5, abs=max(1e-7, slack + 1e-9)), key
    for (name, pa), pb in zip(a_net.state_dict().items(), b_net.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6, msg=name)
    return a


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_fast_step_on_the_graph_path_equals_the_loop(loss, monkeypatch):
    X, y = _data(regression=loss == "mse", n_out=2 if loss == "mse" else 3)
    run = _assert_same(lambda: _mlp(n_out=2 if loss == "mse" else 3), X, y, monkeypatch, loss=loss)
    # 90 rows at batch 16: 5 full batches per epoch, 2 of the first epoch's run eagerly before capture
    assert run.cuda_graphs["replays"] == 4 * 5 - 2


def _graphs_alive() -> set[int]:
    gc.collect()
    return {id(o) for o in gc.get_objects() if type(o) is cuda_graph.GraphedSteps}


def test_one_epoch_per_call_makes_its_own_graphs_frees_them_and_trains_like_one_call(emulate):
    # partial_fit-style calls: a graph is bound to its call's tensors, so each call makes its
    # own (two eager warm-up steps, then replays) and nothing of it outlives the call
    X, y = _data()
    before = _graphs_alive()
    net, run = _mlp(), None
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):
        run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, TrainConfig(batch_size=16, max_epochs=10**6),
                       generator=gen, run=run, epochs=1)
        assert run.cuda_graphs == {"used": True, "reason": None, "replays": 5 - 2}
        assert _graphs_alive() <= before
    once_net = _mlp()
    once = fit_loop(once_net, make_loss("cross_entropy"), (X, y), None, TrainConfig(batch_size=16, max_epochs=3),
                    generator=torch.Generator().manual_seed(3))
    assert once.cuda_graphs["replays"] == 3 * 5 - 2
    assert [r["train_loss"] for r in run.history] == pytest.approx([r["train_loss"] for r in once.history], rel=1e-6)
    for pa, pb in zip(net.parameters(), once_net.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("schedule", ["step", "cosine", "exponential", "plateau"])
def test_schedules_reach_the_learning_rate_tensor(schedule, monkeypatch):
    X, y = _data()
    _assert_same(_mlp, X, y, monkeypatch, lr_schedule=schedule, lr=0.01, max_epochs=6)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov"])
def test_sgd_variants(optimizer, monkeypatch):
    X, y = _data()
    _assert_same(_mlp, X, y, monkeypatch, optimizer=optimizer, lr=0.05)


def test_regularisation_and_clipping(monkeypatch):
    X, y = _data()
    _assert_same(_mlp, X, y, monkeypatch, l1=1e-3, grad_clip=0.5)


def test_watched_steps_between_graph_steps(monkeypatch):
    X, y = _data(n=200)
    _assert_same(_mlp, X, y, monkeypatch, callbacks=default_monitors())


def test_dropout(monkeypatch):
    X, y = _data()
    # A row whose hidden units all drop scores the head's bias alone: after one step its three
    # entries are the rate's size, equal but for the last bit, so one prediction may differ.
    _assert_same(lambda: _mlp(dropout=0.3), X, y, monkeypatch, rows_apart=1)


def test_autograd_step_of_a_cnn(monkeypatch):
    X, y = _data(shape=(2, 8, 8))
    run = _assert_same(_cnn, X, y, monkeypatch)
    assert not run.fast_path["used"]


def test_uint8_data_prepared_on_the_device(monkeypatch):
    g = torch.Generator().manual_seed(1)
    X = torch.randint(0, 256, (90, 6), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 3, (90,), generator=g)
    transform = FeatureTransform().fit(X.numpy())
    scaler = DeviceScaler(transform, (6,), torch.device("cpu"))
    _assert_same(_mlp, X, y, monkeypatch, prepare=scaler)


def test_a_subset_of_rows(monkeypatch):
    X, y = _data(n=120)
    rows = torch.arange(0, 120, 3)
    _assert_same(_mlp, X, y, monkeypatch, rows=rows)


def test_augmentation_and_one_cycle_keep_the_eager_path(emulate):
    from trainwell.data.augment import parse_augment

    X, y = _data(shape=(2, 8, 8))
    run = fit_loop(_cnn(), make_loss("cross_entropy"), (X, y), None,
                   TrainConfig(batch_size=16, max_epochs=1, augment=parse_augment("flip", (2, 8, 8))))
    assert not run.cuda_graphs["used"] and "augment" in run.cuda_graphs["reason"]
    run = fit_loop(_mlp(), make_loss("cross_entropy"), _data(), None,
                   TrainConfig(batch_size=16, max_epochs=1, lr_schedule="onecycle"))
    assert not run.cuda_graphs["used"] and "momentum" in run.cuda_graphs["reason"]
    run = fit_loop(_mlp(), make_loss("cross_entropy"), _data(), None,
                   TrainConfig(batch_size=16, max_epochs=1, optimizer="rmsprop"))
    assert not run.cuda_graphs["used"] and "fused" in run.cuda_graphs["reason"]


def test_a_step_that_cannot_be_captured_trains_on_eagerly(monkeypatch):
    # e.g. a loss that reads a value on the host mid-step: capture raises, the run goes on
    def refuse(step, device):
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")

    monkeypatch.setattr(cuda_graph, "capture", refuse)
    X, y = _data()
    a, a_net = _run(_mlp, X, y, True, monkeypatch)
    b, b_net = _run(_mlp, X, y, False, monkeypatch)
    info = a.cuda_graphs
    assert not info["used"] and info["replays"] == 0
    assert info["reason"] == ("capturing the step failed (operation not permitted when stream is capturing); "
                              "its steps ran eagerly")
    for ra, rb in zip(a.history, b.history, strict=True):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-6)
    for pa, pb in zip(a_net.parameters(), b_net.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


def test_hierarchical_softmax_on_the_graph_path(monkeypatch):
    spec = NetworkSpec(kind="mlp", input_shape=(6,), n_outputs=12, hidden=(16,), head="hierarchical_softmax")

    def make():
        return build_network(spec, generator=torch.Generator().manual_seed(0))

    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(90, 6, generator=g), torch.randint(0, 12, (90,), generator=g)
    _assert_same(make, X, y, monkeypatch, loss="hierarchical_softmax")


def test_a_hooked_network_runs_eagerly_so_its_hooks_see_every_step(emulate):
    # a replay would run a forward hook once, at capture; with the hook the steps stay eager
    X, y = _data()
    net = _mlp()
    calls = []
    handle = net.features[0].register_forward_hook(lambda *_: calls.append(1))
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, TrainConfig(batch_size=16, max_epochs=2))
    info = run.cuda_graphs
    assert info["replays"] == 0 and not info["used"] and "hooks" in info["reason"]
    assert len(calls) == 2 * 6  # every step of both epochs (5 full batches and a ragged one)
    handle.remove()
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, TrainConfig(batch_size=16, max_epochs=2))
    assert run.cuda_graphs["used"] and run.cuda_graphs["replays"] > 0
