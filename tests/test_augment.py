"""On-device augmentation (random shifts, flips) and 8-bit images kept on the device."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from trainwell import NeuralNetClassifier
from trainwell.data import FeatureTransform
from trainwell.data.augment import Augment, default_shift, parse_augment, random_hflip, random_shift
from trainwell.data.on_device import DeviceScaler, scaled_black
from trainwell.exceptions import ConfigError
from trainwell.nn import make_loss
from trainwell.train import Callback, TrainConfig, fit_loop

SMALL_CNN = {"random_state": 0, "diagnostics": False, "device": "cpu", "kind": "cnn", "conv": ((4, 3, 2),),
             "hidden": (16,)}


def _digit_images(n: int = 400, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 8×8 digits as uint8 images with values 0-240, enlarged to ``size`` pixels."""
    X, y = load_digits(return_X_y=True)
    images = (X[:n] * 15).astype(np.uint8).reshape(-1, 8, 8)
    return images.repeat(size // 8, axis=1).repeat(size // 8, axis=2), y[:n]


def test_random_shift_is_a_crop_of_the_padded_image():
    # oracle: torchvision's RandomCrop(padding=s), one image at a time with plain slicing
    images = torch.randn(16, 3, 9, 7)
    shift = 2
    out = random_shift(images, shift, (0.0,), torch.Generator().manual_seed(5))
    offsets = torch.randint(0, 2 * shift + 1, (2, 16), generator=torch.Generator().manual_seed(5))
    padded = F.pad(images, (shift,) * 4)
    for i in range(16):
        dy, dx = offsets[:, i].tolist()
        assert torch.equal(out[i], padded[i, :, dy:dy + 9, dx:dx + 7])
    assert len({tuple(o) for o in offsets.T.tolist()}) > 4  # the offsets really vary


def test_random_shift_pads_each_channel_with_its_fill_value():
    images = torch.zeros(64, 2, 5, 5) + 100.0
    out = random_shift(images, 2, (-1.0, -3.0), torch.Generator().manual_seed(0))
    moved = out.ne(100.0)
    assert moved.any()  # some pixels came from the padding
    assert set(out[:, 0][moved[:, 0]].unique().tolist()) == {-1.0}
    assert set(out[:, 1][moved[:, 1]].unique().tolist()) == {-3.0}


def test_random_hflip_flips_about_half_and_nothing_else():
    images = torch.randn(400, 1, 4, 6)
    out = random_hflip(images, torch.Generator().manual_seed(1))
    same = (out == images).flatten(1).all(1)
    flipped = (out == images.flip(-1)).flatten(1).all(1)
    assert bool((same | flipped).all())
    assert 150 < int(flipped.sum()) < 250


def test_augment_keeps_flat_rows_flat_for_an_mlp():
    aug = Augment((1, 8, 8), shift=1)
    rows = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 64)
    out = aug(rows, torch.Generator().manual_seed(0))
    assert out.shape == rows.shape and not torch.equal(out, rows)


@pytest.mark.parametrize(("spec", "shape", "expected"), [
    ("auto", (1, 28, 28), (2, False)),
    ("auto", (1, 16, 16), (1, False)),
    ("auto", (3, 224, 224), (16, False)),
    ("shift", (3, 32, 32), (2, False)),
    ("shift=3+flip", (1, 28, 28), (3, True)),
    ("flip", (3, 32, 32), (0, True)),
])
def test_parse_augment(spec, shape, expected):
    aug = parse_augment(spec, shape)
    assert (aug.shift, aug.hflip) == expected
    assert default_shift(28, 28) == 2


@pytest.mark.parametrize(("spec", "shape", "words"), [
    ("rotate", (1, 28, 28), "not understood"),
    ("shift=0", (1, 28, 28), "not understood"),
    ("shift", None, "needs images"),
    ("shift=9", (1, 8, 8), "smaller shift"),
    (3, (1, 8, 8), "must be a string"),
])
def test_bad_augment_is_one_sentence(spec, shape, words):
    with pytest.raises(ConfigError, match=words) as info:
        parse_augment(spec, shape)
    assert re.search(r"\.\s+[A-Z]", str(info.value)) is None  # one sentence


def test_auto_and_none_leave_tables_and_tiny_images_alone():
    assert parse_augment("auto", None) is None and parse_augment("auto", (1, 8, 8)) is None
    assert parse_augment("shift", (1, 8, 8)).shift == 1  # asked for explicitly
    assert parse_augment("none", (1, 8, 8)) is None and parse_augment(None, (1, 8, 8)) is None


@pytest.mark.parametrize("shape", [(40, 6, 5), (40, 3, 4, 5), (40, 12)])
def test_device_scaler_matches_the_host_transform_exactly(shape):
    X = np.random.default_rng(0).integers(0, 256, size=shape).astype(np.uint8)
    transform = FeatureTransform().fit(X)
    host = transform.transform(X)
    scaler = DeviceScaler(transform, host.shape[1:], torch.device("cpu"))
    assert torch.equal(scaler(torch.from_numpy(X)), torch.from_numpy(host))
    if len(shape) == 4:
        black = scaled_black(transform, shape[1])
        assert np.allclose(black, -transform.mean / transform.scale)


class _CountingAugment:
    def __init__(self):
        self.sizes = []

    def __call__(self, x, generator):
        self.sizes.append(x.shape[0])
        return x + 0.0


class _Watch(Callback):
    """Ask for every second step, so both step paths see augmented batches."""

    def wants_step(self, run):
        return run.step % 2 == 0


def test_loop_augments_every_training_batch_and_never_validation():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    X, y = torch.randn(50, 16), torch.randint(0, 3, (50,))
    counter = _CountingAugment()
    config = TrainConfig(batch_size=16, max_epochs=3, augment=counter, fast=False)
    fit_loop(net, make_loss("cross_entropy"), (X, y), (X[:7], y[:7]), config, [_Watch()])
    assert counter.sizes == [16, 16, 16, 2] * 3


def test_uint8_images_train_exactly_like_their_float_copy():
    X, y = _digit_images(300)
    params = {**SMALL_CNN, "max_epochs": 3, "augment": "none"}
    a = NeuralNetClassifier(**params).fit(X, y)
    b = NeuralNetClassifier(**params).fit(X.astype(np.float32), y)
    assert a.train_config_.prepare is not None and b.train_config_.prepare is None
    assert a.history_.column("train_loss") == b.history_.column("train_loss")
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X.astype(np.float32)))


def test_images_are_shifted_by_default_for_a_cnn_and_an_mlp():
    X, y = _digit_images(300, size=16)
    for kind in ("cnn", "mlp"):
        common = {**SMALL_CNN, "max_epochs": 2, "kind": kind}
        shifted = NeuralNetClassifier(**common).fit(X, y)
        plain = NeuralNetClassifier(**common, augment="none").fit(X, y)
        assert shifted.augment_.shift == 1 and plain.augment_ is None
        assert shifted.history_.column("train_loss") != plain.history_.column("train_loss")
        assert shifted.predict(X).shape == (300,)


def test_tables_are_never_augmented_and_explicit_shift_on_a_table_is_refused():
    X, y = load_digits(return_X_y=True)
    est = NeuralNetClassifier(max_epochs=1, diagnostics=False).fit(X[:200], y[:200])
    assert est.augment_ is None
    with pytest.raises(ConfigError, match="needs images"):
        NeuralNetClassifier(max_epochs=1, augment="shift").fit(X[:200], y[:200])


class _StopAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, run):
        if run.epoch == self.epoch:
            raise KeyboardInterrupt


def test_resume_with_augmentation_continues_the_same_random_shifts(tmp_path):
    X, y = _digit_images(200)
    params = {**SMALL_CNN, "max_epochs": 5, "augment": "shift+flip", "patience": 50}
    whole = NeuralNetClassifier(**params).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        NeuralNetClassifier(**params, checkpoint_dir=tmp_path, callbacks=[_StopAt(2)]).fit(X, y)
    resumed = NeuralNetClassifier(**params, checkpoint_dir=tmp_path).fit(X, y, resume=True)
    assert resumed.history_.column("train_loss") == whole.history_.column("train_loss")
