"""The hand-derived MLP step against torch.autograd: gradients, updates, training runs.

The oracle is autograd on an untouched copy of the same network (per-layer parameters,
``torch.optim`` optimizers): the fast step must give the same gradients, the same
parameters after an optimizer step, the same batch-norm statistics and the same history.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from trainwell import NeuralNetClassifier, load
from trainwell.nn import NetworkSpec, build_network, make_loss
from trainwell.train import Callback, TrainConfig, fit_loop
from trainwell.train.fast_mlp import FastMLPStep, fast_mlp_support, parse_mlp
from trainwell.train.flat import FlatParameters
from trainwell.train.optim import make_flat_optimizer, make_optimizer
from trainwell.train.update import FlatUpdate


def _net(dtype=torch.float64, batchnorm=True, activation="relu", dropout=0.0, n_out=3, hidden=(12, 8), seed=0,
         activation_param=None):
    spec = NetworkSpec(kind="mlp", input_shape=(6,), n_outputs=n_out, hidden=hidden, batchnorm=batchnorm,
                       activation=activation, activation_param=activation_param, dropout=dropout)
    return build_network(spec, generator=torch.Generator().manual_seed(seed)).to(dtype)


def _data(n=40, dtype=torch.float64, n_out=3, regression=False, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 6, generator=g, dtype=dtype)
    if regression:
        return X, torch.randn(n, n_out, generator=g, dtype=dtype)
    return X, torch.randint(0, n_out, (n,), generator=g)


def _autograd_grads(net, loss_fn, X, y, seed=5):
    """The mean loss by autograd; the gradients are left in ``p.grad``."""
    torch.manual_seed(seed)
    loss, _ = loss_fn.batch(net, X, y)
    net.zero_grad(set_to_none=True)
    loss.backward()
    return loss.detach()


def _fast_grads(net, loss_fn, X, y, seed=5):
    """The fast step's loss and flat gradients, with the optimizer update switched off."""
    flat = FlatParameters(net)
    step = FastMLPStep(net, loss_fn, flat, update=lambda: None)
    torch.manual_seed(seed)
    loss, _ = step(X, y)
    step.flush()
    return loss, flat


CASES = [
    {"batchnorm": True, "activation": "relu"},
    {"batchnorm": False, "activation": "relu"},
    {"batchnorm": True, "activation": "leaky_relu", "activation_param": 0.1},
    {"batchnorm": True, "activation": "tanh"},
    {"batchnorm": False, "activation": "sigmoid"},
    {"batchnorm": True, "activation": "relu", "dropout": 0.3},
    {"batchnorm": False, "activation": "tanh", "dropout": 0.5},
]


def _compare_gradients(case, loss_name, dtype, rtol, atol, device="cpu"):
    regression = loss_name == "mse"
    n_out = 2 if regression else 3
    X, y = (t.to(device) for t in _data(dtype=dtype, n_out=n_out, regression=regression))
    reference = _net(dtype, n_out=n_out, **case).to(device)
    fast_net = copy.deepcopy(reference)
    class_weight = torch.tensor([1.0, 2.0, 0.5], dtype=dtype, device=device) if loss_name == "weighted" else None
    loss_fn = make_loss("mse" if regression else "cross_entropy", class_weight)
    ref_loss = _autograd_grads(reference, loss_fn, X, y)
    loss, flat = _fast_grads(fast_net, loss_fn, X, y)
    torch.testing.assert_close(loss, ref_loss, rtol=rtol, atol=atol)
    ref_params = dict(reference.named_parameters())
    for name, p in fast_net.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, rtol=rtol, atol=atol, msg=name)
        assert p.grad.data_ptr() >= flat.grad.data_ptr()  # the gradient is the flat buffer's
    ref_buffers = dict(reference.named_buffers())
    for name, b in fast_net.named_buffers():
        torch.testing.assert_close(b, ref_buffers[name], rtol=rtol, atol=atol, msg=name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("loss_name", ["cross_entropy", "weighted", "mse"])
def test_float64_gradients_equal_autograd(case, loss_name):
    _compare_gradients(case, loss_name, torch.float64, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES[:3], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_float32_gradients_equal_autograd(case):
    _compare_gradients(case, "cross_entropy", torch.float32, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES[:2], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("loss_name", ["cross_entropy", "weighted", "mse"])
def test_narrow_layer_formulations_equal_autograd(case, loss_name, monkeypatch):
    # the products CUDA computes another way for layers of < 16 outputs (here every layer:
    # widths 12 and 8, 3 or 2 outputs), forced on the CPU so CI checks them too
    monkeypatch.setattr(FastMLPStep, "narrow_devices", ("cpu", "cuda"))
    _compare_gradients(case, loss_name, torch.float64, rtol=1e-10, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("case", CASES[:5], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("loss_name", ["cross_entropy", "weighted", "mse"])
def test_cuda_gradients_equal_autograd(case, loss_name):
    _compare_gradients(case, loss_name, torch.float64, rtol=1e-10, atol=1e-12, device="cuda")


def test_batchnorm_running_statistics_match_the_module():
    X, y = _data(n=64)
    reference = _net()
    fast_net = copy.deepcopy(reference)
    loss_fn = make_loss("cross_entropy")
    flat = FlatParameters(fast_net)
    step = FastMLPStep(fast_net, loss_fn, flat, update=lambda: None)
    for k in range(3):
        xb, yb = X[16 * k:16 * (k + 1)], y[16 * k:16 * (k + 1)]
        reference(xb)  # nn.BatchNorm1d's own update in training mode
        step(xb, yb)
    step.flush()
    ref = reference.state_dict()
    for name, value in fast_net.state_dict().items():
        if "running" in name or "num_batches" in name:
            torch.testing.assert_close(value, ref[name], rtol=1e-12, atol=1e-14, msg=name)
    assert int(fast_net.state_dict()["features.1.num_batches_tracked"]) == 3


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "momentum", "nesterov", "rmsprop"])
@pytest.mark.parametrize("regularise", [{}, {"l1": 1e-3, "grad_clip": 0.05}])
def test_one_optimizer_step_matches_the_autograd_path(optimizer, regularise):
    X, y = _data(n=32)
    loss_fn = make_loss("cross_entropy")
    l2, l1, clip = 1e-2, regularise.get("l1", 0.0), regularise.get("grad_clip")
    reference = _net()
    fast_net = copy.deepcopy(reference)
    # reference: autograd, per-layer torch.optim optimizer, L1 and clipping as the loop does them
    ref_opt = make_optimizer(optimizer, reference, 0.05, 0.9, l2)
    for _ in range(2):
        loss, _ = loss_fn.batch(reference, X, y)
        ref_opt.zero_grad()
        loss.backward()
        if l1:
            for name, p in reference.named_parameters():
                if name.endswith("weight") and p.ndim >= 2:
                    p.grad.add_(torch.sign(p.detach()), alpha=l1)
        if clip:
            torch.nn.utils.clip_grad_norm_(list(reference.parameters()), clip)
        ref_opt.step()
    flat = FlatParameters(fast_net)
    opt = make_flat_optimizer(optimizer, flat, 0.05, 0.9, l2)
    step = FastMLPStep(fast_net, loss_fn, flat, FlatUpdate(flat, opt, l1, clip))
    for _ in range(2):
        step(X, y)
    ref_params = dict(reference.named_parameters())
    for name, p in fast_net.named_parameters():
        torch.testing.assert_close(p, ref_params[name], rtol=1e-9, atol=1e-11, msg=name)


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "nesterov", "sgd"])
def test_direct_fused_kernel_equals_optimizer_step(optimizer):
    nets = [_net(torch.float32), _net(torch.float32)]
    updates = []
    for net in nets:
        flat = FlatParameters(net)
        opt = make_flat_optimizer(optimizer, flat, 0.01, 0.9, 1e-3)
        updates.append((flat, opt, FlatUpdate(flat, opt)))
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        grad = torch.randn(updates[0][0].grad.shape, generator=g)
        for flat, _, _ in updates:
            flat.grad.copy_(grad)
        updates[0][2]()       # direct kernel call
        updates[1][1].step()  # torch.optim's own step
    torch.testing.assert_close(updates[0][0].data, updates[1][0].data, rtol=0, atol=0)
    s0, s1 = updates[0][1].state_dict()["state"], updates[1][1].state_dict()["state"]
    for k in s1:
        for key in s1[k]:
            torch.testing.assert_close(s0[k][key], s1[k][key], rtol=0, atol=0)


def _fit(fast, X, y, loss="cross_entropy", callbacks=(), **config):
    net = _net(X.dtype, n_out=y.shape[1] if y.ndim == 2 else 3, **config.pop("net", {}))
    cfg = TrainConfig(batch_size=config.pop("batch_size", 16), max_epochs=config.pop("max_epochs", 4), fast=fast,
                      classification=loss != "mse", **config)
    run = fit_loop(net, make_loss(loss), (X, y), None, cfg, list(callbacks),
                   generator=torch.Generator().manual_seed(3))
    return net, run


@pytest.mark.parametrize("setup", [
    {},
    {"net": {"dropout": 0.2}},
    {"lr_schedule": "onecycle", "optimizer": "momentum", "lr": 0.05},
    {"l1": 1e-3, "grad_clip": 1.0},
    {"loss": "mse"},
], ids=["default", "dropout", "onecycle-momentum", "l1-clip", "mse"])
def test_epochs_of_training_match_the_autograd_path(setup):
    setup = dict(setup)
    loss = setup.pop("loss", "cross_entropy")
    X, y = _data(n=90, regression=loss == "mse", n_out=2 if loss == "mse" else 3)  # 90 = 5 * 16 + 10: ragged
    results = []
    for fast in (True, False):
        torch.manual_seed(7)
        net, run = _fit(fast, X, y, loss=loss, **copy.deepcopy(setup))
        results.append((net, run))
    (fast_net, fast_run), (ref_net, ref_run) = results
    assert fast_run.fast_path["used"] and not ref_run.fast_path["used"]
    for a, b in zip(fast_run.history, ref_run.history, strict=True):
        for key in a:
            if key != "seconds":
                assert a[key] == pytest.approx(b[key], rel=1e-8, abs=1e-10), key
    ref_state = ref_net.state_dict()
    for name, value in fast_net.state_dict().items():
        torch.testing.assert_close(value, ref_state[name], rtol=1e-8, atol=1e-10, msg=name)


class WatchStep(Callback):
    """Watch chosen global steps: count forward calls through a hook, keep the gradients."""

    def __init__(self, steps):
        self.steps = set(steps)
        self.calls = 0
        self.grads = {}
        self.batches = {}

    def wants_step(self, run):
        return run.step in self.steps

    def on_step_begin(self, run):
        self._hook = run.net.features[0].register_forward_hook(self._count)

    def _count(self, *_):
        self.calls += 1

    def on_step_end(self, run):
        self._hook.remove()
        flat = run._loop.flat
        self.grads[run.step] = {n: (p.grad.clone(), p.grad.data_ptr() - flat.grad.data_ptr())
                                for n, p in run.net.named_parameters()}
        self.batches[run.step] = run.batch


def test_a_watched_step_runs_autograd_and_keeps_optimizer_state_shared():
    X, y = _data(n=96)
    watcher = WatchStep({2, 7})
    torch.manual_seed(7)
    net_w, run_w = _fit(True, X, y, callbacks=[watcher], max_epochs=2)
    torch.manual_seed(7)
    net_f, run_f = _fit(True, X, y, max_epochs=2)
    assert watcher.calls == 2  # both watched steps went through the module (autograd)
    flat = run_w._loop.flat
    for grads in watcher.grads.values():
        for name, (grad, offset) in grads.items():
            assert 0 <= offset < flat.grad.numel() * flat.grad.element_size(), name  # a view of the flat buffer
            assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # the watched batch is a fresh tensor holding real rows of X
    xb, _ = watcher.batches[7]
    assert any(torch.equal(xb[0], row) for row in X)
    # the same run with and without watched steps: same parameters, same Adam state
    for name, value in net_f.state_dict().items():
        torch.testing.assert_close(net_w.state_dict()[name], value, rtol=1e-9, atol=1e-11, msg=name)
    steps = [s["step"].item() for s in run_w.optimizer.state.values()]
    assert steps == [run_w.step] * len(steps) == [12, 12]


def test_state_dict_round_trip_keeps_parameters_in_the_flat_buffer():
    X, y = _data(n=64)
    net, run = _fit(True, X, y, max_epochs=1)
    flat = run._loop.flat
    saved = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net.load_state_dict(saved)
    assert flat.intact()
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.detach(), saved[name])
    # the flat buffer (what the optimizer updates) holds the restored values
    torch.testing.assert_close(flat.data, torch.cat([s.param.detach().reshape(-1) for s in flat.slots]))


def test_broken_views_are_rebound_before_the_next_epoch():
    X, y = _data(n=64)
    net, run = _fit(True, X, y, max_epochs=1)
    flat = run._loop.flat
    first = net.features[0].weight
    first.data = first.data.clone()  # user code replacing a parameter's storage
    first.grad = None
    assert not flat.intact()
    fit_loop(net, make_loss("cross_entropy"), (X, y), None, run.config, run=run, epochs=1)
    assert flat.intact()
    assert run.fast_path["used"]


@pytest.mark.parametrize("make, reason", [
    (lambda: _net(activation="prelu", activation_param=0.25), "MLP"),
    (lambda: nn.Sequential(nn.Linear(6, 4), nn.GELU(), nn.Linear(4, 3)), "MLP"),
    (lambda: _net(torch.float32), "hinge"),
])
def test_unsupported_networks_and_losses_train_on_autograd(make, reason):
    net = make().float()
    X, y = _data(n=48, dtype=torch.float32)
    loss = make_loss("hinge" if reason == "hinge" else "cross_entropy")
    assert fast_mlp_support(net, loss, X, y) is not None
    before = copy.deepcopy(net.state_dict())
    run = fit_loop(net, loss, (X, y), None, TrainConfig(batch_size=16, max_epochs=2))
    assert not run.fast_path["used"]
    assert reason in run.fast_path["reason"]
    assert any(not torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"] * 1.5


def test_plain_sequential_mlp_is_supported():
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3)).double()
    X, y = _data(n=40)
    assert parse_mlp(net) is not None
    assert fast_mlp_support(net, make_loss("cross_entropy"), X, y) is None


def test_estimator_uses_the_fast_path_and_saves_and_loads(tmp_path, iris):
    X, y = iris
    clf = NeuralNetClassifier(hidden=(16,), lr=1e-2, max_epochs=40, patience=10, random_state=0, device="cpu").fit(X, y)
    assert clf.run_.fast_path["used"]
    assert clf.score(X, y) > 0.9
    clf.save(str(tmp_path / "m"))
    again = load(str(tmp_path / "m"), device="cpu")  # the same device as the fit, so the same arithmetic
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X), rtol=1e-6, atol=1e-7)
    before = [s["step"].item() for s in clf.run_.optimizer.state.values()]
    clf.partial_fit(X, y)  # continues the same flat optimizer
    after = [s["step"].item() for s in clf.run_.optimizer.state.values()]
    assert all(a > b for a, b in zip(after, before, strict=True))


def test_fast_and_autograd_estimators_agree(iris):
    X, y = iris
    clfs = []
    for fast in (True, False):
        clf = NeuralNetClassifier(hidden=(16,), max_epochs=5, early_stopping=False, random_state=0, device="cpu")
        # the estimator has no switch: force the path through its training configuration
        original = clf.training_config
        clf.training_config = lambda n, f=fast, o=original: _with_fast(o(n), f)
        clfs.append(clf.fit(X, y))
    losses = [c.history_.column("train_loss") for c in clfs]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    assert math.isclose(clfs[0].score(X, y), clfs[1].score(X, y), abs_tol=0.02)


def _with_fast(config, fast):
    config.fast = fast
    return config


@pytest.mark.parametrize("case", [c for c in CASES if c["batchnorm"]], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_column_wise_batchnorm_backward_equals_autograd(case, monkeypatch):
    # large activations take the column-wise backward; force it on this small network
    monkeypatch.setattr(FastMLPStep, "column_bn_from", 0)
    _compare_gradients(case, "cross_entropy", torch.float64, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("column_bn_from", [0, 10**9])
def test_batchnorm_without_affine_parameters(column_bn_from, monkeypatch):
    monkeypatch.setattr(FastMLPStep, "column_bn_from", column_bn_from)
    reference = nn.Sequential(nn.Linear(6, 8, bias=False), nn.BatchNorm1d(8, affine=False), nn.ReLU(),
                              nn.Linear(8, 3)).double()
    fast_net = copy.deepcopy(reference)
    X, y = _data()
    loss_fn = make_loss("cross_entropy")
    _autograd_grads(reference, loss_fn, X, y)
    _fast_grads(fast_net, loss_fn, X, y)
    for (name, p), q in zip(fast_net.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12, msg=name)
    torch.testing.assert_close(fast_net[1].running_var, reference[1].running_var, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_inference_is_bit_for_bit_the_modules_evaluation_forward(activation, batchnorm):
    """The validation pass's forward without eval()/train() switching (FastMLPStep.inference)."""
    X, y = _data(n=32, dtype=torch.float32)
    net = _net(torch.float32, batchnorm=batchnorm, activation=activation, dropout=0.3,
               activation_param=0.01 if activation == "leaky_relu" else None)
    flat = FlatParameters(net)
    step = FastMLPStep(net, make_loss("cross_entropy"), flat, FlatUpdate(flat, make_flat_optimizer("adam", flat, 0.05, 0.9, 0.0)))
    for _ in range(3):  # running statistics and weights away from their initial values
        step(X, y)
    scores = step.inference(X)
    assert all(m.training for m in net.modules())  # no module switched mode
    with torch.no_grad():
        expected = net.eval()(X)
    assert torch.equal(scores, expected)


def _twin_adams():
    """Two identical nets with flat Adam: ``(flat, optimizer, FlatUpdate)`` each."""
    pairs = []
    for net in (_net(torch.float32), _net(torch.float32)):
        flat = FlatParameters(net)
        opt = make_flat_optimizer("adam", flat, 0.01, 0.9, 1e-3)
        pairs.append((flat, opt, FlatUpdate(flat, opt)))
    return pairs


def _step_both(pairs, g):
    """One step on the same random gradient: the first by FlatUpdate's direct kernel call (arguments
    kept from the previous step), the second by torch.optim's own step()."""
    grad = torch.randn(pairs[0][0].grad.shape, generator=g)
    for flat, _, _ in pairs:
        flat.grad.copy_(grad)
    pairs[0][2]()
    pairs[1][1].step()


def test_adam_kernel_arguments_follow_a_loaded_optimizer_state_and_a_changed_rate():
    """FlatUpdate keeps Adam's kernel arguments between steps; a new state or rate must reach the kernel."""
    pairs = _twin_adams()
    g = torch.Generator().manual_seed(0)
    _step_both(pairs, g)
    saved = copy.deepcopy(pairs[1][1].state_dict())
    _step_both(pairs, g)
    for flat, opt, _ in pairs:  # both go back one step: new state tensors, new groups
        opt.load_state_dict(copy.deepcopy(saved))
        flat.data.copy_(pairs[1][0].data)
        opt.param_groups[0]["lr"] = 0.003
    _step_both(pairs, g)
    _step_both(pairs, g)
    torch.testing.assert_close(pairs[0][0].data, pairs[1][0].data, rtol=0, atol=0)
    s0, s1 = pairs[0][1].state_dict()["state"], pairs[1][1].state_dict()["state"]
    for k in s1:
        for key in s1[k]:
            torch.testing.assert_close(s0[k][key], s1[k][key], rtol=0, atol=0)


def test_adam_kernel_arguments_are_rebuilt_after_the_state_is_cleared():
    """Clearing the optimizer's state in place restarts Adam, as torch's own step() would."""
    pairs = _twin_adams()
    g = torch.Generator().manual_seed(0)
    for i in range(4):
        if i == 2:
            for _, opt, _ in pairs:
                opt.state.clear()
        _step_both(pairs, g)
    torch.testing.assert_close(pairs[0][0].data, pairs[1][0].data, rtol=0, atol=0)
    assert all(float(s["step"]) == 2 for s in pairs[0][1].state.values())
