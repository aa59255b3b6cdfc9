"""Model folders: round trip, atomic writes, and damaged files rejected without unpickling."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file, save_file

from trainwell import NeuralNetClassifier, NeuralNetRegressor, load
from trainwell.exceptions import ModelFileError, TrainwellError


@pytest.fixture(scope="module")
def fitted(iris_module):
    X, y = iris_module
    labels = np.array(["a", "b", "c"])[y]
    return NeuralNetClassifier(max_epochs=5, random_state=0, dropout=0.1).fit(X, labels), X


@pytest.fixture(scope="module")
def iris_module():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def test_roundtrip_classifier(tmp_path, fitted):
    est, X = fitted
    est.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "weights.safetensors"]
    again = load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    assert list(again.classes_) == ["a", "b", "c"] and again.classes_.dtype == object
    assert again.history_.column("train_loss") == pytest.approx(est.history_.column("train_loss"))
    # a loaded model can keep training
    again.partial_fit(X, est.predict(X))
    assert again.n_iter_ == est.n_iter_ + 1


def test_roundtrip_regressor_with_dataframe(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"kind": rng.choice(["x", "y"], 100), "v": rng.normal(size=100)})
    target = (frame["kind"] == "x") * 3.0 + frame["v"]
    est = NeuralNetRegressor(max_epochs=5, random_state=0).fit(frame, target)
    est.save(tmp_path / "r")
    again = load(tmp_path / "r")
    np.testing.assert_allclose(again.predict(frame), est.predict(frame))
    assert list(again.feature_names_in_) == ["kind", "v"]


def test_int_labels_keep_their_type(tmp_path, iris_module):
    X, y = iris_module
    NeuralNetClassifier(max_epochs=2).fit(X, y).save(tmp_path / "m")
    assert load(tmp_path / "m").classes_.dtype.kind == "i"


def test_save_replaces_an_earlier_model_atomically(tmp_path, fitted):
    est, _ = fitted
    est.save(tmp_path / "m")
    est.save(tmp_path / "m")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary leftovers


def test_save_refuses_a_file_or_foreign_folder(tmp_path, fitted):
    est, _ = fitted
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrainwellError, match="is a file"):
        est.save(tmp_path / "file")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(TrainwellError, match="other files"):
        est.save(tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"


def _saved(tmp_path, fitted):
    est, _ = fitted
    est.save(tmp_path / "m")
    return tmp_path / "m"


def test_missing_folder_and_files(tmp_path, fitted):
    with pytest.raises(ModelFileError, match="does not exist"):
        load(tmp_path / "nope")
    folder = _saved(tmp_path, fitted)
    (folder / "weights.safetensors").unlink()
    with pytest.raises(ModelFileError, match="no weights.safetensors"):
        load(folder)


def test_truncated_weights(tmp_path, fitted):
    folder = _saved(tmp_path, fitted)
    data = (folder / "weights.safetensors").read_bytes()
    (folder / "weights.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or damaged"):
        load(folder)


class _Boom:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_pickle_renamed_to_safetensors_is_never_executed(tmp_path, fitted, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = _saved(tmp_path, fitted)
    (folder / "weights.safetensors").write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ModelFileError):
        load(folder)
    assert not (tmp_path / "PWNED").exists()


def test_weights_that_disagree_with_the_spec(tmp_path, fitted):
    folder = _saved(tmp_path, fitted)
    tensors = load_file(str(folder / "weights.safetensors"))
    name = next(k for k in tensors if k.endswith("weight") and tensors[k].ndim == 2)
    tensors[name] = tensors[name][:, :-1].contiguous()
    save_file(tensors, str(folder / "weights.safetensors"))
    with pytest.raises(ModelFileError, match="shape"):
        load(folder)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.__setitem__("format_version", 99), "version 99"),
        (lambda d: d["spec"].__setitem__("hidden", [7]), "do not match"),
        (lambda d: d.pop("spec"), "malformed"),
        (lambda d: d.__setitem__("format", "something"), "not a trainwell"),
    ],
)
def test_damaged_model_json(tmp_path, fitted, edit, match):
    folder = _saved(tmp_path, fitted)
    desc = json.loads((folder / "model.json").read_text())
    edit(desc)
    (folder / "model.json").write_text(json.dumps(desc))
    with pytest.raises(ModelFileError, match=match):
        load(folder)


def test_invalid_json(tmp_path, fitted):
    folder = _saved(tmp_path, fitted)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(folder)
