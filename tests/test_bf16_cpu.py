"""bf16 autocast on the CPU: used where the CPU has bf16 instructions, refused with a warning elsewhere."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import trainwell.estimators.building as estimators
from trainwell import NeuralNetClassifier
from trainwell.train.loop import bf16_supported


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


def _fit(X, y, **params):
    return NeuralNetClassifier(hidden=(32,), max_epochs=6, early_stopping=False, random_state=0, device="cpu",
                               diagnostics=False, **params).fit(X[:1000], y[:1000])


def test_bf16_support_follows_onednn():
    assert bf16_supported(torch.device("cpu")) == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert bf16_supported(torch.device("cuda"))
    assert not bf16_supported(torch.device("meta"))


def test_without_bf16_instructions_bf16_is_refused_in_one_sentence(digits, monkeypatch):
    monkeypatch.setattr(estimators, "bf16_supported", lambda device: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = _fit(*digits, bf16=True)
    messages = [str(w.message) for w in caught if "bf16" in str(w.message)]
    assert len(messages) == 1 and "training in float32" in messages[0]
    assert clf.train_config_.bf16 is False
    assert clf.run_.fast_path["used"]  # float32 on the fast MLP step as usual


class _OutputDtypes:
    """Forward hook recording the dtype of a layer's outputs in training mode."""

    def __init__(self) -> None:
        self.dtypes: set[torch.dtype] = set()

    def __call__(self, module, inputs, output) -> None:
        if module.training:
            self.dtypes.add(output.dtype)


def test_with_bf16_instructions_the_products_run_in_bf16_and_accuracy_holds(digits, monkeypatch):
    monkeypatch.setattr(estimators, "bf16_supported", lambda device: True)
    X, y = digits
    recorder = _OutputDtypes()

    class Hook:  # attach the recorder to the first linear layer when the fit starts
        def wants_step(self, run):
            return False

        def on_fit_begin(self, run):
            run.net.features[0].register_forward_hook(recorder)

        def on_epoch_begin(self, run): ...
        def on_epoch_end(self, run): ...
        def on_fit_end(self, run): ...

    bf16 = _fit(X, y, bf16=True, callbacks=[Hook()])
    fp32 = _fit(X, y)
    assert bf16.train_config_.bf16 is True
    # the MLP has its bf16 fast step (tests/test_bf16_fast.py), but a forward hook on a linear layer
    # sends every step to autograd, which runs the products under bf16 autocast
    assert bf16.run_.fast_path == {"used": True, "reason": None}
    assert recorder.dtypes == {torch.bfloat16}
    assert next(bf16.network_.parameters()).dtype == torch.float32  # the weights stay float32
    acc_bf16, acc_fp32 = bf16.score(X[1000:], y[1000:]), fp32.score(X[1000:], y[1000:])
    assert acc_bf16 > 0.85 and abs(acc_bf16 - acc_fp32) < 0.04, (acc_bf16, acc_fp32)
