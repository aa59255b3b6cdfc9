"""trainwell's Dropout (nn/dropout.py): a mask from random bits, checked against the Bernoulli
distribution it stands for (SciPy's binomial test), and trained alike by the fast step and autograd."""

from __future__ import annotations

import copy

import pytest
import torch
from scipy.stats import binomtest
from torch import nn

from trainwell.nn import Dropout, NetworkSpec, build_network, make_loss
from trainwell.nn.dropout import dropout_noise, keep_threshold
from trainwell.train.fast_mlp import FastMLPStep
from trainwell.train.flat import FlatParameters


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5, 0.9])
def test_the_mask_keeps_each_element_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    shape = (1000, 401)  # an odd width: the 16-bit parts do not line up with the rows
    noise = dropout_noise(shape, p, torch.float64, torch.device("cpu"))
    kept = noise != 0
    _, scale = keep_threshold(p)
    assert torch.equal(noise[kept], torch.full_like(noise[kept], scale))  # kept elements carry 1 / keep
    # every one of the four 16-bit parts of a 64-bit draw: a biased sign bit would show in one of them
    flat = kept.flatten()
    for part in range(4):
        share = flat[part::4]
        test = binomtest(int(share.sum()), share.numel(), 1 - p)
        assert test.pvalue > 1e-4, (part, share.double().mean().item())
    # inverted dropout: the expected multiplier is 1
    assert abs(noise.mean().item() - 1.0) < 4 * (scale * (p * (1 - p)) ** 0.5) / noise.numel() ** 0.5


def test_keep_threshold_rounds_the_keep_probability_to_16_bits():
    for p in (1e-9, 0.1, 0.2, 0.5, 0.999999):
        threshold, scale = keep_threshold(p)
        steps = threshold + 32768
        assert 1 <= steps <= 65535
        assert abs(steps / 65536 - (1 - p)) <= 1 / 65536
        assert scale * steps == pytest.approx(65536.0, rel=1e-15)


def test_the_module_is_nn_dropout_in_evaluation_mode_and_draws_fresh_masks_in_training():
    layer = Dropout(0.3)
    assert isinstance(layer, nn.Dropout) and repr(layer) == repr(nn.Dropout(0.3))
    x = torch.randn(64, 32)
    assert torch.equal(layer.eval()(x), x)
    layer.train()
    torch.manual_seed(1)
    first, second = layer(x), layer(x)
    assert not torch.equal(first, second)
    torch.manual_seed(1)
    again = layer(x)
    assert torch.equal(first, again)  # the default generator decides, as for nn.Dropout
    inplace = Dropout(0.3, inplace=True).train()
    torch.manual_seed(1)
    y = x.clone()
    assert inplace(y) is y and torch.equal(y, first)


def _grads_both_ways(net, X, y):
    """(autograd's gradients, the fast step's) for one step from the same generator state."""
    loss_fn = make_loss("cross_entropy")
    reference = copy.deepcopy(net)
    torch.manual_seed(5)
    loss, _ = loss_fn.batch(reference, X, y)
    loss.backward()
    expected = {name: p.grad for name, p in reference.named_parameters()}
    flat = FlatParameters(net)
    step = FastMLPStep(net, loss_fn, flat, update=lambda: None)
    torch.manual_seed(5)
    fast_loss, _ = step(X, y)
    torch.testing.assert_close(fast_loss, loss.detach(), rtol=1e-12, atol=0)
    return expected, {name: p.grad for name, p in net.named_parameters()}


@pytest.mark.parametrize("kind", ["trainwell", "torch"])
def test_the_fast_step_draws_the_masks_autograd_draws(kind):
    """trainwell's Dropout from bits, torch's own nn.Dropout by its Bernoulli recipe: same masks either way."""
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(40, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (40,), generator=g)
    if kind == "trainwell":
        spec = NetworkSpec(kind="mlp", input_shape=(6,), n_outputs=3, hidden=(12, 8), dropout=0.4)
        net = build_network(spec, generator=torch.Generator().manual_seed(0)).double()
        assert sum(type(m) is Dropout for m in net.modules()) == 2
    else:
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.4), nn.Linear(12, 3)).double()
    expected, got = _grads_both_ways(net, X, y)
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("rows, hidden", [(41, (7, 5, 3)), (13, (3, 6))])
def test_one_draw_for_all_blocks_gives_each_block_its_own_draw(rows, hidden):
    """The fast step draws every block's mask at once (one rate); blocks whose elements do not fill
    whole 64-bit words (41 x 7, 13 x 3) still get the bits their own draws would, as autograd's modules do."""
    g = torch.Generator().manual_seed(2)
    X, y = torch.randn(rows, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (rows,), generator=g)
    spec = NetworkSpec(kind="mlp", input_shape=(6,), n_outputs=3, hidden=hidden, dropout=0.3)
    net = build_network(spec, generator=torch.Generator().manual_seed(0)).double()
    twin = copy.deepcopy(net)
    assert FastMLPStep(twin, make_loss("cross_entropy"), FlatParameters(twin), update=lambda: None).joint_dropout
    expected, got = _grads_both_ways(net, X, y)
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-10, atol=1e-12, msg=name)
