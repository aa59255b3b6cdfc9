"""Images: folders of images, bad images, CNN choice, and transfer learning (new head, frozen body)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from trainwell import NeuralNetClassifier, load
from trainwell.cli import main
from trainwell.data.images import load_image_folder
from trainwell.exceptions import DataError


def _write_digits_folder(root, n_per_class=30, classes=(0, 1, 2)):
    X, y = load_digits(return_X_y=True)
    for c in classes:
        (root / f"digit{c}").mkdir(parents=True)
        for i, row in enumerate(X[y == c][:n_per_class]):
            img = Image.fromarray((row.reshape(8, 8) * 15.9).astype(np.uint8), mode="L").resize((12, 12))
            img.save(root / f"digit{c}" / f"{i}.png")
    return root


def test_image_folder_is_read_resized_and_labelled(tmp_path):
    root = _write_digits_folder(tmp_path / "imgs")
    Image.new("L", (20, 16), 128).save(root / "digit0" / "odd_size.png")
    data = load_image_folder(root)
    assert data.X.shape == (91, 1, 12, 12) and data.X.dtype == np.uint8
    assert sorted(set(data.y)) == ["digit0", "digit1", "digit2"]
    rgb = load_image_folder(root, mode="RGB", size=(10, 10))
    assert rgb.X.shape == (91, 3, 10, 10)


def test_bad_images_listed_in_one_error_or_skipped(tmp_path):
    root = _write_digits_folder(tmp_path / "imgs", n_per_class=5)
    (root / "digit1" / "broken.png").write_bytes(b"not an image at all")
    (root / "digit2" / "half.png").write_bytes((root / "digit2" / "0.png").read_bytes()[:30])
    with pytest.raises(DataError, match="2 image\\(s\\) cannot be read:.*broken.png.*skip-bad") as info:
        load_image_folder(root)
    assert "\n" not in str(info.value)
    data = load_image_folder(root, skip_bad=True)
    assert len(data.skipped) == 2 and data.X.shape[0] == 15


def test_cli_fits_an_image_folder(tmp_path, capsys):
    root = _write_digits_folder(tmp_path / "imgs")
    out = tmp_path / "run"
    assert main(["fit", str(root), "--out", str(out), "--max-epochs", "8", "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["spec"]["kind"] == "cnn" and config["spec"]["input_shape"] == [1, 12, 12]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.6


def _digits_images():
    X, y = load_digits(return_X_y=True)
    return X.reshape(-1, 8, 8), y


SMALL_CNN = {"conv": ((8, 3, 2), (16, 3, 0)), "hidden": (16,), "device": "cpu"}


def test_transfer_replaces_the_head_and_freezes_the_body(tmp_path):
    X, y = _digits_images()
    source = NeuralNetClassifier(**SMALL_CNN, max_epochs=5, random_state=0).fit(X[y < 5], y[y < 5])
    source.save(tmp_path / "src")
    body_before = {k: v.clone() for k, v in source.network_.features.state_dict().items()}

    target = NeuralNetClassifier(max_epochs=3, random_state=0, pretrained=str(tmp_path / "src"), fine_tune=None)
    target.fit(X[y >= 5][:200], y[y >= 5][:200])
    assert target.network_.head.out_features == 5 and list(target.classes_) == [5, 6, 7, 8, 9]
    assert target.spec_.conv == source.spec_.conv
    # frozen: every parameter of the body is exactly the source's
    for name, p in target.network_.features.named_parameters():
        assert torch.equal(p.detach().cpu(), body_before[name]), name
    # the source model itself was not touched
    assert load(tmp_path / "src").network_.head.out_features == 5


def test_fine_tune_moves_the_body_after_the_head(tmp_path):
    X, y = _digits_images()
    source = NeuralNetClassifier(**SMALL_CNN, max_epochs=5, random_state=0).fit(X[y < 5], y[y < 5])
    target = NeuralNetClassifier(max_epochs=3, random_state=0, pretrained=source, fine_tune=0.1, early_stopping=False)
    target.fit(X[y >= 5][:200], y[y >= 5][:200])
    assert len(target.history_) == 6  # 3 epochs head only, then 3 epochs of everything
    lrs = target.history_.column("lr")
    assert lrs[3] == pytest.approx(lrs[0] * 0.1)
    moved = [not torch.equal(p.detach().cpu(), source.network_.features.state_dict()[n].cpu())
             for n, p in target.network_.features.named_parameters()]
    assert any(moved)


def test_transfer_to_a_binary_problem_and_wrong_input_shape(tmp_path):
    X, y = _digits_images()
    source = NeuralNetClassifier(**SMALL_CNN, max_epochs=2, random_state=0).fit(X, y)
    binary = NeuralNetClassifier(max_epochs=2, pretrained=source).fit(X[:300], y[:300] % 2)
    assert binary.network_.head.out_features == 2
    with pytest.raises(DataError, match="shape"):
        NeuralNetClassifier(max_epochs=1, pretrained=source).fit(np.zeros((20, 6, 6)), np.arange(20) % 2)
