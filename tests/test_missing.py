"""missing="auto": numeric gaps filled with training medians plus missing indicators, saved with the model."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.impute import SimpleImputer
from sklearn.utils.estimator_checks import check_estimators_nan_inf

from trainwell import NeuralNetClassifier, NeuralNetRegressor, load
from trainwell.cli import main
from trainwell.exceptions import DataError

QUICK = {"max_epochs": 3, "device": "cpu", "random_state": 0}


def _gappy(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Five numeric columns; gaps in columns 0, 2 and 4 (column 4 has one gap only), none in 1 and 3."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)) * [1.0, 2.0, 10.0, 0.5, 3.0] + [0.0, 5.0, -20.0, 1.0, 100.0]
    X[rng.random(n) < 0.15, 0] = np.nan
    X[rng.random(n) < 0.30, 2] = np.nan
    X[7, 4] = np.nan
    y = (np.nan_to_num(X[:, 0]) + X[:, 1] - 5 > 0).astype(int)
    return X, y


def test_fill_and_indicators_equal_simple_imputer():
    X, y = _gappy()
    # early_stopping=False: every row trains, so the transform sees exactly the rows the oracle sees
    est = NeuralNetClassifier(early_stopping=False, **QUICK).fit(X, y)
    oracle = SimpleImputer(strategy="median", add_indicator=True).fit(X)
    t = est.transform_
    np.testing.assert_allclose(t.fill, oracle.statistics_, rtol=1e-6)
    assert t.indicate == oracle.indicator_.features_.tolist() == [0, 2, 4]
    # the encoded matrix, unscaled, is SimpleImputer's: filled columns, then the indicators
    unscaled = t.transform(X) * t.scale + t.mean
    np.testing.assert_allclose(unscaled, oracle.transform(X), rtol=1e-5, atol=1e-4)
    assert est.spec_.input_shape == (8,)
    # indicators stay 0/1 (like one-hot columns): not standardised
    assert t.mean[-3:].tolist() == [0.0, 0.0, 0.0] and t.scale[-3:].tolist() == [1.0, 1.0, 1.0]


def test_counts_per_column_are_an_info_finding():
    X, y = _gappy()
    est = NeuralNetClassifier(early_stopping=False, **QUICK).fit(X, y)
    [finding] = [f for f in est.findings_ if f.code == "missing_filled"]
    expected = {f"feature {j}": int(np.isnan(X[:, j]).sum()) for j in (0, 2, 4)}
    assert finding.severity == "info" and finding.evidence["counts"] == expected
    assert f"feature 2: {expected['feature 2']}" in finding.message and "median" in finding.message
    clean = NeuralNetClassifier(**QUICK).fit(np.nan_to_num(X), y)
    assert not [f for f in clean.findings_ if f.code == "missing_filled"]


def test_a_column_with_gaps_only_at_predict_time_gets_its_median():
    X, y = _gappy()
    est = NeuralNetRegressor(**QUICK).fit(X, y.astype(float))
    t = est.transform_
    row = X[:1].copy()
    row[0, 1] = np.nan  # column 1 had no gaps in training: no indicator, filled with its median
    filled = row.copy()
    filled[0, 1] = t.fill[1]
    assert t.transform(row).shape == (1, 8)
    np.testing.assert_array_equal(est.predict(row), est.predict(filled))


def test_categorical_gaps_are_a_level_of_their_own():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"num": rng.normal(size=90), "colour": rng.choice(["red", "blue", None], size=90)})
    frame.loc[[3, 40], "num"] = np.nan
    y = (frame["colour"].isna() | (frame["num"] > 1)).astype(int).to_numpy()
    est = NeuralNetClassifier(early_stopping=False, **QUICK).fit(frame, y)
    t = est.transform_
    assert t.categories["colour"] == ["blue", "red", "<missing>"]
    assert t.n_missing == {"num": 2}  # categorical gaps are a level, not a filled number
    encoded = t.transform(frame) * t.scale + t.mean
    # columns: num, colour=blue, colour=red, colour=<missing>, then the indicator of num
    np.testing.assert_array_equal(encoded[:, 3], frame["colour"].isna().to_numpy(dtype=float))
    np.testing.assert_array_equal(encoded[:, 4], frame["num"].isna().to_numpy(dtype=float))
    assert encoded[3, 0] == pytest.approx(frame["num"].median(), rel=1e-6)


def test_imputation_is_saved_and_predictions_are_identical_after_load(tmp_path):
    X, y = _gappy()
    frame = pd.DataFrame(X, columns=list("abcde"))
    est = NeuralNetClassifier(**QUICK).fit(frame, y)
    est.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "model.json").read_text())
    assert saved["features"]["indicate"] == [0, 2, 4] and len(saved["features"]["fill"]) == 5
    assert not list((tmp_path / "m").glob("*.pkl"))
    loaded = load(tmp_path / "m", device="cpu")
    new = frame.copy()
    new.loc[:10, "b"] = np.nan  # gaps where training had none, too
    np.testing.assert_array_equal(loaded.predict_proba(new), est.predict_proba(new))
    np.testing.assert_array_equal(loaded.transform_.fill, est.transform_.fill)


def test_inf_is_refused_and_called_infinite_not_missing():
    X, y = _gappy()
    X[11, 3] = np.inf
    with pytest.raises(DataError) as info:
        NeuralNetClassifier(**QUICK).fit(X, y)
    text = str(info.value)
    assert text.startswith("X holds 1 infinite value (first at row 11, feature 3)"), text
    assert "missing" not in text and "NaN" not in text and "\n" not in text
    est = NeuralNetClassifier(**QUICK).fit(np.where(np.isinf(X), 0.0, X), y)
    bad = X[:20].copy()
    with pytest.raises(DataError, match="infinite") as info:
        est.predict(bad)
    assert "missing" not in str(info.value)


def test_missing_error_refuses_with_the_sentence_of_before():
    X, y = _gappy()
    with pytest.raises(DataError) as info:
        NeuralNetClassifier(missing="error", **QUICK).fit(X, y)
    n, (row, col) = int(np.isnan(X).sum()), np.argwhere(np.isnan(X))[0]
    assert str(info.value) == (f"X holds {n} NaN values (first at row {row}, feature {col}); drop those rows or impute the "
                               "values (e.g. with sklearn.impute.SimpleImputer)."), info.value
    est = NeuralNetClassifier(missing="error", **QUICK).fit(np.nan_to_num(X), y)
    assert est.transform_.fill is None
    row = np.nan_to_num(X[:1])
    row[0, 4] = np.nan
    with pytest.raises(DataError, match=r"1 NaN value \(first at row 0, feature 4\)"):
        est.predict(row)


def test_images_keep_refusing_nan():
    X = np.random.default_rng(0).random((40, 8, 8)).astype(np.float32)
    X[5, 2, 3] = np.nan
    with pytest.raises(DataError, match=r"1 NaN value \(first at row 5, position \(2, 3\)\)"):
        NeuralNetClassifier(**QUICK).fit(X, np.tile([0, 1], 20))
    with pytest.raises(DataError, match="NaN"):  # a CNN's input, even as a flat table
        NeuralNetClassifier(kind="cnn", **QUICK).fit(X.reshape(40, -1), np.tile([0, 1], 20))


def test_gaps_cost_little_accuracy_on_a_real_table():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    gappy = np.where(rng.random(X.shape) < 0.1, np.nan, X)
    order = rng.permutation(len(y))
    train, test = order[:450], order[450:]
    est = NeuralNetClassifier(max_epochs=40, device="cpu", random_state=0).fit(gappy[train], y[train])
    assert est.score(gappy[test], y[test]) > 0.9


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_allow_nan_tag_is_honest(cls):
    assert cls().__sklearn_tags__().input_tags.allow_nan is True
    strict = cls(missing="error", max_epochs=2, device="cpu")
    assert strict.__sklearn_tags__().input_tags.allow_nan is False
    check_estimators_nan_inf(cls.__name__, strict)  # scikit-learn's own check: NaN and inf refused


# ------------------------------------------------------------------ the command line
def _csv_with_gaps(path, n: int = 80) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "town": rng.choice(["x", "y"], size=n)})
    frame["label"] = np.where(frame["a"] + frame["b"] > 0, "yes", "no")
    frame.loc[[2, 9, 30], "a"] = np.nan
    frame.loc[[5, 60], "town"] = None
    frame.to_csv(path, index=False)  # the gaps are empty cells


def test_cli_fills_empty_cells_and_says_so(tmp_path, capsys):
    data = tmp_path / "d.csv"
    _csv_with_gaps(data)
    assert ",," in data.read_text()
    code = main(["fit", str(data), "--target", "label", "--out", str(tmp_path / "run"), "--max-epochs", "3",
                 "--no-report", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(out)
    [finding] = [f for f in record["findings"] if f["code"] == "missing_filled"]
    assert finding["severity"] == "info" and "1 numeric column(s) (a: " in finding["message"], finding
    # predict a file with empty cells, in a column that had gaps in training and one that had none
    new = tmp_path / "new.csv"
    new.write_text("a,b,town\n,0.5,x\n1.0,,\n")
    assert main(["predict", str(tmp_path / "run"), str(new)]) == 0
    out, err = capsys.readouterr()
    assert "note: filled 2 empty numeric cell(s) with the training medians: a 1, b 1." in err, err
    lines = out.strip().splitlines()
    assert lines[0] == "prediction" and set(lines[1:]) <= {"yes", "no"} and len(lines) == 3


def test_cli_missing_error(tmp_path, capsys):
    data = tmp_path / "d.csv"
    _csv_with_gaps(data)
    code = main(["fit", str(data), "--target", "label", "--out", str(tmp_path / "run"), "--missing", "error",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "3 NaN values (first at row 2 of the data counting from 0, line 4 of the file, column 'a')" in err
    assert not (tmp_path / "run").exists()


def test_category_codes_agree_for_pandas_categories_and_plain_objects():
    """A categorical column is encoded from its categories, an object column through pandas'
    hash table: the same one-hot rows either way, unseen values all zeros, gaps their own level."""
    from trainwell.data.features import FeatureTransform

    train = pd.DataFrame({"c": ["b", "a", None, "b", "c"], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    test = pd.DataFrame({"c": ["a", "z", None, "c", "b"], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    as_category = test.assign(c=test["c"].astype("category"))
    fitted = FeatureTransform().fit(train, missing="auto")
    assert fitted.categories["c"] == ["a", "b", "c", "<missing>"]
    expected = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]], dtype=np.float32)
    for frame in (test, as_category):
        with warnings.catch_warnings():
            # an unseen value ("z") once reached pandas' deprecated Categorical-with-unknown-values path
            warnings.simplefilter("error")
            np.testing.assert_array_equal(fitted.transform(frame)[:, :4], expected)
