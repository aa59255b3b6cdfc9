"""What the CUDA audit fixed, checked where a CPU can check it.

- The fast MLP step draws dropout with ``nn.Dropout``'s kernel of the device: on CUDA that
  is ATen's fused ``native_dropout``, not the CPU recipe, so a watched (autograd) step and
  an unwatched (fast) step draw the same masks there too. The CUDA branch is forced on the
  CPU here (``fused_dropout_devices``) against autograd through ``native_dropout``; the GPU
  test compares with ``nn.Dropout`` itself.
- A checkpoint written on another kind of device (its permutation generator's state has
  another layout) resumes instead of failing inside ``Generator.set_state``.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.datasets import load_digits
from torch import nn

from trainwell import NeuralNetClassifier
from trainwell.nn import NetworkSpec, build_network, make_loss
from trainwell.train import Callback
from trainwell.train.fast_mlp import FastMLPStep
from trainwell.train.flat import FlatParameters


def _net(dropout: float, batchnorm: bool = True, device: str = "cpu") -> nn.Module:
    spec = NetworkSpec(kind="mlp", input_shape=(6,), n_outputs=3, hidden=(12, 8), batchnorm=batchnorm, dropout=dropout)
    return build_network(spec, generator=torch.Generator().manual_seed(0)).double().to(device)


def _data(device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return (torch.randn(40, 6, generator=g, dtype=torch.float64).to(device),
            torch.randint(0, 3, (40,), generator=g).to(device))


class _NativeDropout(nn.Module):
    """Dropout through ``torch.native_dropout``: what ``nn.Dropout`` runs on CUDA."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.native_dropout(x, self.p, True)[0]


def _gradients_agree(reference: nn.Module, fast_net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> None:
    loss_fn = make_loss("cross_entropy")
    torch.manual_seed(5)
    ref_loss, _ = loss_fn.batch(reference, X, y)
    reference.zero_grad(set_to_none=True)
    ref_loss.backward()
    flat = FlatParameters(fast_net)
    step = FastMLPStep(fast_net, loss_fn, flat, update=lambda: None)
    torch.manual_seed(5)
    loss, _ = step(X, y)
    torch.testing.assert_close(loss, ref_loss.detach(), rtol=1e-10, atol=1e-12)
    ref_params = dict(reference.named_parameters())
    for name, p in fast_net.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("batchnorm", [True, False])
@pytest.mark.parametrize("p", [0.3, 0.5])
def test_fused_dropout_branch_equals_autograd_through_native_dropout(monkeypatch, batchnorm, p):
    monkeypatch.setattr(FastMLPStep, "fused_dropout_devices", ("cpu", "cuda"))
    fast_net = _net(p, batchnorm)
    reference = copy.deepcopy(fast_net)
    for i, module in enumerate(reference.features):
        if isinstance(module, nn.Dropout):
            reference.features[i] = _NativeDropout(module.p)
    X, y = _data()
    _gradients_agree(reference, fast_net, X, y)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("batchnorm", [True, False])
def test_cuda_fast_dropout_equals_nn_dropout(batchnorm):
    fast_net = _net(0.3, batchnorm, device="cuda")
    _gradients_agree(copy.deepcopy(fast_net), fast_net, *_data("cuda"))


class _StopAt(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, run) -> None:
        if run.epoch == self.epoch:
            raise KeyboardInterrupt


def test_a_checkpoint_from_another_kind_of_device_resumes(tmp_path):
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    params = {"random_state": 0, "hidden": (16,), "max_epochs": 3, "device": "cpu", "diagnostics": False}
    with pytest.raises(KeyboardInterrupt):  # interrupted in epoch 2: the checkpoint holds epoch 1
        NeuralNetClassifier(**params, checkpoint_dir=tmp_path / "ck", callbacks=[_StopAt(2)]).fit(X, y)
    state = tmp_path / "ck" / "state.safetensors"
    tensors = load_file(str(state))
    # what a CUDA run leaves: its permutation generator's (seed, offset) state, and the CUDA generator's
    cuda_like = torch.zeros(16, dtype=torch.uint8)
    tensors["rng.perm"], tensors["rng.cuda"] = cuda_like, cuda_like.clone()
    save_file(tensors, str(state))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = NeuralNetClassifier(**params, checkpoint_dir=tmp_path / "ck").fit(X, y, resume=True)
    assert est.n_iter_ == 3 and len(est.history_) == 3
    assert any("another kind of device" in str(w.message) for w in caught)


def test_a_pickled_gpu_model_travels_as_torch_bytes_and_maps_to_the_cpu(monkeypatch):
    """What a model fitted on CUDA does when pickled (forced onto the CPU branch here): its
    state travels as ``torch.save`` bytes and ``torch.load`` maps it to the CPU where there
    is no GPU, instead of failing inside pickle."""
    import pickle

    import numpy as np

    from trainwell.estimators import NeuralNetClassifier as Est

    X, y = load_digits(return_X_y=True)
    clf = Est(hidden=(16,), max_epochs=3, random_state=0, device="cpu", diagnostics=False).fit(X[:300], y[:300])
    monkeypatch.setattr(Est, "_mapped_pickle_devices", ("cpu", "cuda"))
    payload = clf.__getstate__()
    assert set(payload) == {"_torch_saved_state"}
    again = pickle.loads(pickle.dumps(clf))
    assert again.device_ == torch.device("cpu")
    np.testing.assert_array_equal(again.predict_proba(X[300:]), clf.predict_proba(X[300:]))
    assert again.get_params() == clf.get_params()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cuda_fit_does_not_reseed_the_global_cuda_generator():
    X, y = load_digits(return_X_y=True)
    torch.cuda.manual_seed_all(1234)
    before = torch.cuda.get_rng_state()
    NeuralNetClassifier(hidden=(16,), max_epochs=1, random_state=0, device="cuda", dropout=0.0,
                        diagnostics=False).fit(X[:200], y[:200])
    assert torch.equal(torch.cuda.get_rng_state(), before)
