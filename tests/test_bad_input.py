"""Bad input, everywhere: each case gets one sentence naming the problem and the fix, and
nothing is written to the output folder. The CLI exits 2 for bad input, with no traceback."""

from __future__ import annotations

import errno
import os

import numpy as np
import pandas as pd
import pytest

from trainwell import NeuralNetClassifier, NeuralNetRegressor, load
from trainwell.cli import main
from trainwell.exceptions import TrainwellError

GOOD_X = np.random.default_rng(0).normal(size=(40, 3))
GOOD_Y = np.tile([0, 1], 20)


def _one_sentence(text: str) -> None:
    text = str(text).strip()
    assert "\n" not in text, text
    assert "Traceback" not in text
    assert len(text) < 400, text


# ------------------------------------------------------------------ the Python API
API_CASES = [
    # (id, estimator kwargs, X, y, expected words)
    ("nan_feature", {"missing": "error"}, np.where(np.arange(120).reshape(40, 3) == 7, np.nan, GOOD_X), GOOD_Y, "NaN"),
    ("inf_feature", {}, np.where(np.arange(120).reshape(40, 3) == 7, np.inf, GOOD_X), GOOD_Y, "inf"),
    ("strings_in_array", {}, np.array([["a", "1"]] * 40), GOOD_Y, "text"),
    ("x_1d", {}, np.arange(40.0), GOOD_Y, "1-D"),
    ("shift_a_table", {"augment": "shift"}, GOOD_X, GOOD_Y, "needs images"),
    ("unknown_augment", {"augment": "rotate"}, np.zeros((40, 16, 16)), GOOD_Y, "not understood"),
    ("lengths_differ", {}, GOOD_X, GOOD_Y[:30], "40 rows but y has 30"),
    ("one_class", {}, GOOD_X, np.zeros(40), "only one class"),
    ("nan_label", {}, GOOD_X, np.r_[GOOD_Y[:-1].astype(float), np.nan], "missing labels"),
    ("continuous_labels", {}, GOOD_X, np.linspace(0, 1, 40), "Unknown label type"),
    ("mixed_label_types", {}, GOOD_X, np.array([1, "a"] * 20, dtype=object), "Unknown label type"),
    ("empty_X", {}, np.zeros((0, 3)), np.zeros(0), "empty"),
    ("y_none", {}, GOOD_X, None, "requires y"),
    ("batch_size_zero", {"batch_size": 0}, GOOD_X, GOOD_Y, "batch_size"),
    ("batch_size_negative", {"batch_size": -5}, GOOD_X, GOOD_Y, "batch_size"),
    ("epochs_zero", {"max_epochs": 0}, GOOD_X, GOOD_Y, "max_epochs"),
    ("lr_zero", {"lr": 0.0}, GOOD_X, GOOD_Y, "lr"),
    ("lr_negative", {"lr": -1e-3}, GOOD_X, GOOD_Y, "lr"),
    ("unknown_activation", {"activation": "swish"}, GOOD_X, GOOD_Y, "relu"),
    ("unknown_optimizer", {"optimizer": "lion"}, GOOD_X, GOOD_Y, "adam"),
    ("unknown_loss", {"loss": "focal"}, GOOD_X, GOOD_Y, "cross_entropy"),
    ("hidden_zero", {"hidden": (64, 0)}, GOOD_X, GOOD_Y, "at least 1 unit"),
    ("dropout_one", {"dropout": 1.0}, GOOD_X, GOOD_Y, "dropout"),
    ("negative_l2", {"l2": -1.0}, GOOD_X, GOOD_Y, "l2"),
    ("bad_device", {"device": "tpu9"}, GOOD_X, GOOD_Y, "device"),
    ("bad_kind", {"kind": "rnn"}, GOOD_X, GOOD_Y, "kind"),
    ("bad_class_weight", {"class_weight": "heavy"}, GOOD_X, GOOD_Y, "class_weight"),
    ("sparse_X_with_nan", {}, None, GOOD_Y, "NaN"),  # sparse input trains; its stored values are checked
    ("bad_missing", {"missing": "mean"}, GOOD_X, GOOD_Y, "missing"),
    ("nan_in_images", {}, np.where(np.arange(40 * 64).reshape(40, 8, 8) == 7, np.nan, 0.5), GOOD_Y, "NaN"),
]


@pytest.mark.parametrize(("kwargs", "X", "y", "words"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_bad_input(kwargs, X, y, words):
    if X is None:
        import scipy.sparse

        X = scipy.sparse.csr_matrix(GOOD_X)
        X.data[3] = np.nan
    with pytest.raises(ValueError, match=words) as info:
        NeuralNetClassifier(max_epochs=kwargs.pop("max_epochs", 2), **kwargs).fit(X, y)
    _one_sentence(info.value)


def test_regressor_text_targets():
    with pytest.raises(ValueError, match="text") as info:
        NeuralNetRegressor(max_epochs=1).fit(GOOD_X, np.array(["a", "b"] * 20))
    _one_sentence(info.value)


def test_predict_with_wrong_number_of_features_and_before_fit():
    with pytest.raises(ValueError, match="not fitted") as info:
        NeuralNetClassifier().predict(GOOD_X)
    _one_sentence(info.value)
    est = NeuralNetClassifier(max_epochs=1).fit(GOOD_X, GOOD_Y)
    with pytest.raises(ValueError, match="3 features") as info:
        est.predict(GOOD_X[:, :2])
    _one_sentence(info.value)


def test_dataframe_missing_column_at_predict():
    frame = pd.DataFrame({"a": GOOD_X[:, 0], "b": ["x", "y"] * 20})
    est = NeuralNetClassifier(max_epochs=1).fit(frame, GOOD_Y)
    with pytest.raises(ValueError) as info:
        est.predict(frame[["a"]])
    _one_sentence(info.value)


def test_load_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist") as info:
        load(tmp_path / "no-model")
    _one_sentence(info.value)


def test_save_without_disk_space_leaves_nothing(tmp_path, monkeypatch):
    est = NeuralNetClassifier(max_epochs=1).fit(GOOD_X, GOOD_Y)
    real_open = open

    def full_disk(path, mode="r", *args, **kwargs):
        if "w" in mode and ".tmp-" in str(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_disk)
    with pytest.raises(TrainwellError, match="No space left") as info:
        est.save(tmp_path / "m")
    _one_sentence(info.value)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ the command line
CLI_CASES = [
    ("empty_file", b"", "label", "empty"),
    ("header_only", b"a,b,label\n", "label", "no data rows"),
    ("ragged_rows", b"a,b,label\n1,2,x\n3,4,y,9\n", "label", "well-formed"),
    ("non_utf8", "a,label\n1,caf\xe9\n2,b\n".encode("latin-1"), "label", "UTF-8"),
    ("missing_target", b"a,b,label\n1,2,x\n3,4,y\n", "nope", "not in the data"),
    ("constant_target", b"a,label\n1,x\n2,x\n3,x\n4,x\n", "label", "one value only"),
    ("all_nan_target", b"a,label\n1,\n2,\n3,\n4,\n", "label", "empty"),
    ("some_nan_target", b"a,label\n1,x\n2,\n3,y\n4,x\n5,y\n", "label", "missing values"),
    ("nan_feature", b"a,label\n1,x\n,y\n3,x\n4,y\n5,x\n6,y\n", "label", "NaN"),  # with --missing error
    ("inf_feature", b"a,label\n1,x\ninf,y\n3,x\n4,y\n5,x\n6,y\n", "label", "inf"),
    ("only_target", b"label\nx\ny\nx\ny\n", "label", "no feature columns"),
    ("too_few_rows", b"a,label\n1,x\n2,y\n", "label", "at least 4"),
    ("more_classes_than_rows", b"a,label\n1,a\n2,b\n3,c\n4,d\n5,e\n", "label", "class"),
]


@pytest.mark.parametrize(("content", "target", "words"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_csv(tmp_path, capsys, content, target, words):
    data = tmp_path / "in.csv"
    data.write_bytes(content)
    out = tmp_path / "out"
    missing = ["--missing", "error"] if b"\n,y" in content else []  # an empty cell is filled by default
    code = main(["fit", str(data), "--target", target, "--out", str(out), "--quiet", "--max-epochs", "2", *missing])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and words in err, err
    _one_sentence(err)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--batch-size", "0"], "batch_size"),
        (["--lr", "-1"], "lr"),
        (["--max-epochs", "0"], "max_epochs"),
        (["--activation", "swish"], "relu"),
        (["--optimizer", "lion"], "adam"),
        (["--hidden", "64,0"], "at least 1 unit"),
        (["--hidden", "big"], "comma-separated"),
        (["--dropout", "1.5"], "dropout"),
        (["--test-fraction", "1.5"], "test-fraction"),
    ],
)
def test_cli_bad_flags(tmp_path, capsys, flags, words):
    data = tmp_path / "in.csv"
    pd.DataFrame({"a": np.arange(20.0), "label": ["x", "y"] * 10}).to_csv(data, index=False)
    out = tmp_path / "out"
    assert main(["fit", str(data), "--target", "label", "--out", str(out), "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert words in err, err
    _one_sentence(err)
    assert not out.exists()


def test_cli_output_folder_is_a_file(tmp_path, capsys):
    data = tmp_path / "in.csv"
    pd.DataFrame({"a": np.arange(20.0), "label": ["x", "y"] * 10}).to_csv(data, index=False)
    (tmp_path / "out").write_text("precious")
    assert main(["fit", str(data), "--target", "label", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert (tmp_path / "out").read_text() == "precious"


def test_cli_predict_wrong_columns(tmp_path, capsys):
    data = tmp_path / "in.csv"
    pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3, "label": ["x", "y"] * 20}).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "label", "--out", str(tmp_path / "run"), "--quiet", "--max-epochs", "2"]) == 0
    other = tmp_path / "other.csv"
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(other, index=False)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), str(other)]) == 2
    err = capsys.readouterr().err
    assert "lacks the column" in err
    _one_sentence(err)


# ------------------------------------------------------------------ rows as the user numbers them (issue 21)
def _with_bad_values(value: float, rows: tuple[int, ...], column: int = 1) -> np.ndarray:
    X = np.random.default_rng(1).normal(size=(100, 3))
    X[list(rows), column] = value
    return X


def test_fit_names_the_row_of_the_users_array_and_counts_every_bad_value():
    # fit splits off validation rows; the row must still be the user's (7, not its place in the split)
    with pytest.raises(ValueError, match=r"1 infinite value \(first at row 7, feature 1\)") as info:
        NeuralNetClassifier(max_epochs=1).fit(_with_bad_values(np.inf, (7,)), np.tile([0, 1], 50))
    _one_sentence(info.value)
    rows = (7, 20, 41, 63, 88, 99)  # some land in the validation rows: every one is counted
    with pytest.raises(ValueError, match=r"6 NaN values \(first at row 7, feature 1\)"):
        NeuralNetClassifier(max_epochs=1, missing="error").fit(_with_bad_values(np.nan, rows), np.tile([0, 1], 50))


def test_fit_names_the_column_of_a_dataframe():
    frame = pd.DataFrame(_with_bad_values(np.nan, (5, 70), column=2), columns=["a", "b", "c"])
    frame["text"] = ["x", None] * 50  # missing text is a category of its own, not an error
    with pytest.raises(ValueError, match=r"2 NaN values \(first at row 5, column 'c'\)"):
        NeuralNetRegressor(max_epochs=1, missing="error").fit(frame, np.arange(100.0))


def test_predict_wording_of_nan_and_inf():
    est = NeuralNetClassifier(max_epochs=1, missing="error").fit(GOOD_X, GOOD_Y)
    with pytest.raises(ValueError) as info:
        est.predict(np.where(np.arange(120).reshape(40, 3) == 28, np.nan, GOOD_X))
    assert str(info.value).startswith("X holds 1 NaN value (first at row 9, feature 1)"), info.value
    assert "before fitting" not in str(info.value)
    _one_sentence(info.value)
    with pytest.raises(ValueError) as info:
        est.predict(np.where(np.arange(120).reshape(40, 3) == 28, -np.inf, GOOD_X))
    assert "1 infinite value (first at row 9" in str(info.value) and "missing" not in str(info.value)


def test_a_mapped_array_names_the_row_across_chunks(tmp_path, monkeypatch):
    X = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    y = np.tile([0, 1], 150)
    est = NeuralNetClassifier(max_epochs=1, device="cpu").fit(np.load(tmp_path / "X.npy", mmap_mode="r"), y)
    X[237, 0] = np.nan
    np.save(tmp_path / "bad.npy", X)
    monkeypatch.setattr("trainwell.estimators.base.CHUNK_ROWS", 100)  # predicted in 3 chunks
    with pytest.raises(ValueError, match="first at row 237"):
        est.predict(np.load(tmp_path / "bad.npy", mmap_mode="r"))
    monkeypatch.setattr("trainwell.data.finite.CHUNK", 100)  # checked in 3 chunks
    with pytest.raises(ValueError, match="first at row 237"):
        NeuralNetClassifier(max_epochs=1, device="cpu").fit(np.load(tmp_path / "bad.npy", mmap_mode="r"), y)


# ------------------------------------------------------------------ parameters as people write them (issue 21)
@pytest.mark.parametrize(("hidden", "sizes"), [("256,128", (256, 128)), ("64", (64,)), (" 32, 16 ", (32, 16))])
def test_hidden_given_as_text_like_the_cli(hidden, sizes):
    est = NeuralNetClassifier(hidden=hidden, max_epochs=1).fit(GOOD_X, GOOD_Y)
    assert est.spec_.hidden == sizes
    assert est.get_params()["hidden"] == hidden  # stored as given (scikit-learn's clone contract)


@pytest.mark.parametrize("hidden", ["big", "64,0", "64;32", ""])
def test_hidden_text_that_is_not_sizes(hidden):
    with pytest.raises(ValueError, match="hidden=") as info:
        NeuralNetClassifier(hidden=hidden, max_epochs=1).fit(GOOD_X, GOOD_Y)
    assert "of size '" not in str(info.value)  # never read character by character
    _one_sentence(info.value)


def test_names_are_accepted_in_any_case():
    given = {"optimizer": "Adam", "activation": "ReLU", "init": "He", "loss": "Cross_Entropy", "lr_schedule": "Step",
             "scaling": "Feature", "kind": "MLP", "augment": "None", "device": "CPU", "class_weight": "Balanced"}
    est = NeuralNetClassifier(max_epochs=2, **given).fit(GOOD_X, GOOD_Y)
    assert {k: est.get_params()[k] for k in given} == given  # stored as given
    assert est.spec_.kind == "mlp" and est.spec_.activation == "relu" and est.spec_.init == "he"
    assert est.train_config_.optimizer == "adam" and est.train_config_.lr_schedule == "step"
    assert est.transform_.scaling == "feature"
    reg = NeuralNetRegressor(max_epochs=1, loss="MSE", activation=("Leaky_ReLU", 0.1), output_activation="Sigmoid",
                             target_scaling="Range").fit(GOOD_X, GOOD_X[:, 0])
    assert reg.spec_.activation == "leaky_relu" and reg.spec_.output_activation == "sigmoid"
    assert reg.target_scaler_.mode == "range" and reg.target_scaler_.output_activation == "sigmoid"
    assert NeuralNetRegressor(output_activation="Tanh", max_epochs=1).fit(GOOD_X, GOOD_X[:, 0]).target_scaler_.mode == "range"


def test_freeze_is_accepted_in_any_case():
    from trainwell.estimators.params import COMMON_CONSTRAINTS

    assert COMMON_CONSTRAINTS["freeze"].check("Features") and not COMMON_CONSTRAINTS["freeze"].check("head")


@pytest.mark.parametrize(
    ("kwargs", "y", "shown"),
    [
        ({"lr": np.float64(0.0)}, GOOD_Y, "lr=0.0 "),
        ({"hidden": (np.int64(64), np.int64(0))}, GOOD_Y, "hidden=(64, 0)"),
        ({"max_epochs": np.int64(0)}, GOOD_Y, "max_epochs=0 "),
        ({}, np.ones(40, dtype=np.int64), "only one class (1)"),
    ],
)
def test_messages_show_plain_values_not_numpy_reprs(kwargs, y, shown):
    with pytest.raises(ValueError) as info:
        NeuralNetClassifier(**{"max_epochs": 1, **kwargs}).fit(GOOD_X, y)
    assert shown in str(info.value) and "np." not in str(info.value), info.value
