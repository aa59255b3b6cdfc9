"""The fast MLP step with ``bf16=True`` on the CPU: matrix products in bfloat16, the rest in float32.

The oracle is autograd on a copy of the network whose linear layers multiply the bf16 roundings of
their operands (``mm(bf16(x), bf16(W).t())``, widened to float32, plus the float32 bias): the
fast step's loss, gradients and batch-norm statistics must equal it to bf16's rounding, and must
differ from the float32 gradients (the products really ran in bf16). These run wherever torch has
CPU bf16 kernels, whether or not the CPU has native bf16 instructions (emulated there: slower,
the same numbers), which is how the AMX path is tested on machines without AMX.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import trainwell.estimators.building as estimators
from trainwell import NeuralNetClassifier
from trainwell.nn import NetworkSpec, build_network, make_loss
from trainwell.train import TrainConfig, fit_loop
from trainwell.train.fast_mlp import FastMLPStep, fast_mlp_support
from trainwell.train.flat import FlatParameters


def _net(batchnorm=True, activation="relu", dropout=0.0, n_out=3, bias=False, seed=0, activation_param=None):
    spec = NetworkSpec(kind="mlp", input_shape=(24,), n_outputs=n_out, hidden=(32, 16), batchnorm=batchnorm,
                       activation=activation, activation_param=activation_param, dropout=dropout)
    net = build_network(spec, generator=torch.Generator().manual_seed(seed))
    if bias:  # hidden layers with a bias too (without batch norm they have one anyway)
        for m in net.modules():
            if isinstance(m, nn.Linear) and m.bias is None:
                m.bias = nn.Parameter(torch.randn(m.out_features, generator=torch.Generator().manual_seed(3)) * 0.1)
    return net


def _bf16_products(net: nn.Module) -> nn.Module:
    """A copy of ``net`` whose linear layers multiply bf16 roundings, as the fast step's bf16 mode does."""
    ref = copy.deepcopy(net)
    for m in ref.modules():
        if isinstance(m, nn.Linear):
            def forward(x, m=m):
                out = torch.mm(x.to(torch.bfloat16), m.weight.to(torch.bfloat16).t()).float()
                return out if m.bias is None else out + m.bias
            m.forward = forward
    return ref


def _data(n=48, n_out=3, regression=False):
    g = torch.Generator().manual_seed(1)
    X = torch.randn(n, 24, generator=g)
    y = torch.randn(n, n_out, generator=g) if regression else torch.randint(0, n_out, (n,), generator=g)
    return X, y


CASES = [
    {"batchnorm": True, "activation": "relu"},
    {"batchnorm": False, "activation": "tanh"},
    {"batchnorm": True, "activation": "leaky_relu", "activation_param": 0.1, "dropout": 0.3},
    {"batchnorm": False, "activation": "relu", "bias": True},
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("regression", [False, True])
def test_bf16_gradients_equal_autograd_with_bf16_products(case, regression):
    n_out = 2 if regression else 3
    X, y = _data(n_out=n_out, regression=regression)
    loss_fn = make_loss("mse" if regression else "cross_entropy")
    net = _net(n_out=n_out, **case)
    ref, plain, fast_net = _bf16_products(net), copy.deepcopy(net), copy.deepcopy(net)

    grads = {}
    for name, model in (("ref", ref), ("plain", plain)):
        torch.manual_seed(5)  # the same dropout masks
        loss, _ = loss_fn.batch(model, X, y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        grads[name] = (loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()})

    flat = FlatParameters(fast_net)
    step = FastMLPStep(fast_net, loss_fn, flat, update=lambda: None, bf16=True)
    torch.manual_seed(5)
    loss, _ = step(X, y)
    step.flush()
    ref_loss, ref_grads = grads["ref"]
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    differs = False
    for k, p in fast_net.named_parameters():
        scale = ref_grads[k].abs().max().item() + 1e-12
        # equal to ~2e-7 of the largest gradient on the machine this was written on; the margin allows
        # another CPU's kernels to round a product's last bf16 bit the other way (8 significant bits)
        torch.testing.assert_close(p.grad, ref_grads[k], rtol=1e-2, atol=1e-4 * scale, msg=k)
        differs |= not torch.equal(p.grad, grads["plain"][1][k])
    assert differs, "the gradients equal float32's: the products did not run in bf16"
    for m_ref, m_fast in zip(ref.modules(), fast_net.modules(), strict=True):
        if isinstance(m_ref, nn.BatchNorm1d):
            torch.testing.assert_close(m_fast.running_mean, m_ref.running_mean, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(m_fast.running_var, m_ref.running_var, rtol=1e-5, atol=1e-6)


def test_bf16_stays_on_the_fast_step_on_the_cpu_only():
    X, y = _data()
    loss = make_loss("cross_entropy")
    assert fast_mlp_support(_net(), loss, X, y, bf16=True) is None
    reason = fast_mlp_support(_net().double(), loss, X.double(), y, bf16=True)
    assert reason is not None and "autograd path" in reason
    run = fit_loop(_net(), loss, (X, y), None, TrainConfig(batch_size=16, max_epochs=3, bf16=True))
    assert run.fast_path["used"], run.fast_path
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]


def test_bf16_fast_step_trains_digits_as_well_as_float32(monkeypatch):
    # the forced flag: train in bf16 whether or not this CPU has native bf16 instructions (AMX, AVX512-BF16)
    monkeypatch.setattr(estimators, "bf16_supported", lambda device: True)
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    params = dict(hidden=(64,), max_epochs=8, early_stopping=False, random_state=0, device="cpu", diagnostics=False)
    bf16 = NeuralNetClassifier(bf16=True, **params).fit(X[:1200], y[:1200])
    fp32 = NeuralNetClassifier(**params).fit(X[:1200], y[:1200])
    assert bf16.train_config_.bf16 and bf16.run_.fast_path["used"]
    assert next(bf16.network_.parameters()).dtype == torch.float32  # float32 master weights
    acc_bf16, acc_fp32 = bf16.score(X[1200:], y[1200:]), fp32.score(X[1200:], y[1200:])
    assert acc_bf16 > 0.9 and abs(acc_bf16 - acc_fp32) < 0.03, (acc_bf16, acc_fp32)
    assert not np.array_equal(bf16.predict_proba(X[1200:]), fp32.predict_proba(X[1200:]))
