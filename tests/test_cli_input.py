"""The command line reads the user's file the way the user sees it (issue 21): rows numbered as in
the file, the separator sniffed, a misspelt target answered with the column meant, a saved index
noticed, and one table of training flags behind every command that trains."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.cli import main
from trainwell.cli.common import NOT_FLAGS, TRAINING_FLAGS, build_estimator, read_table

README = Path(__file__).resolve().parents[1] / "README.md"


def _table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["label"] = np.where(frame["a"] + frame["b"] > 0, "x", "y")
    return frame


def _fit(tmp_path: Path, data: Path, *flags: str) -> int:
    return main(["fit", str(data), "--out", str(tmp_path / "run"), "--quiet", "--max-epochs", "2", "--no-report", *flags])


# ------------------------------------------------------------------ NaN and inf, named as the file numbers them
@pytest.mark.parametrize("fraction", ["0.2", "0.01"])
def test_inf_is_named_by_its_row_in_the_file(tmp_path, capsys, fraction):
    frame = _table()
    frame.loc[7, "b"] = np.inf
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert _fit(tmp_path, tmp_path / "d.csv", "--target", "label", "--test-fraction", fraction) == 2
    err = capsys.readouterr().err
    assert "1 infinite value" in err and "row 7 of the data" in err and "line 9" in err and "'b'" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_every_nan_is_counted_whichever_split_it_falls_in(tmp_path, capsys):
    frame = _table()
    rows = [3, 11, 19, 30, 42, 57]
    frame.loc[rows, "c"] = np.nan
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert _fit(tmp_path, tmp_path / "d.csv", "--target", "label", "--missing", "error") == 2
    fit_err = capsys.readouterr().err
    assert "6 NaN values" in fit_err and "row 3 of the data" in fit_err and "line 5" in fit_err, fit_err
    # check holds out the same test rows; it must count the same six and name the same row
    assert main(["check", str(tmp_path / "d.csv"), "--target", "label", "--missing", "error"]) == 2
    assert capsys.readouterr().err == fit_err


# ------------------------------------------------------------------ the target column and the separator
def _wine_like(tmp_path: Path, sep: str = ",") -> Path:
    rng = np.random.default_rng(0)
    names = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
             "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "proline"]
    frame = pd.DataFrame(rng.normal(size=(60, len(names))), columns=names)
    frame["target"] = np.tile([0, 1, 2], 20)
    frame.to_csv(tmp_path / "wine.csv", index=False, sep=sep)
    return tmp_path / "wine.csv"


def test_a_misspelt_target_gets_the_column_meant_and_every_column(tmp_path, capsys):
    data = _wine_like(tmp_path)
    assert _fit(tmp_path, data, "--target", "Target") == 2
    err = capsys.readouterr().err
    assert "did you mean 'target'?" in err and "proline" in err and err.rstrip().endswith("target."), err
    assert _fit(tmp_path, data, "--target", "flavonoids") == 2
    assert "did you mean 'flavanoids'?" in capsys.readouterr().err


def test_a_bad_target_is_answered_before_pytorch_is_imported(tmp_path):
    # the flags become estimator parameters only after the file is read and checked: that import costs seconds
    data = _wine_like(tmp_path)
    code = ("import sys; from trainwell.cli import main; "
            f"rc = main(['fit', {str(data)!r}, '--target', 'Target', '--out', {str(tmp_path / 'run')!r}]); "
            "print(rc, 'torch' in sys.modules, 'sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False", "False"], done.stderr
    assert "did you mean 'target'?" in done.stderr and not (tmp_path / "run").exists()


def test_a_semicolon_file_is_read_with_its_separator(tmp_path, capsys):
    data = _wine_like(tmp_path, sep=";")
    frame = read_table(str(data))
    assert "proline" in frame.columns and frame.shape == (60, 13)
    assert "';'" in capsys.readouterr().err  # a note says which separator was detected
    assert read_table(str(data), sep=";", quiet=True).shape == (60, 13)
    assert capsys.readouterr().err == ""
    assert main(["check", str(data), "--target", "target", "--sep", ";", "--min-severity", "error"]) == 0
    assert "';'" not in capsys.readouterr().err  # --sep given: no separator note (check's header line aside)
    comma = _wine_like(tmp_path)
    read_table(str(comma))
    assert capsys.readouterr().err == ""  # no note for the usual comma


def test_decimal_commas_in_a_semicolon_file_are_read_as_numbers(tmp_path, capsys):
    # the European spelling: ';' between fields, ',' as the decimal mark (a regression target once became classes)
    data = tmp_path / "macro.csv"
    data.write_text("year;unemp;region;code\n1959,0;5,8;north;7\n1960,0;-5,1;south;8\n1961,0;;north;9\n"
                    "1962,0;6;south;10\n", encoding="utf-8")
    frame = read_table(str(data))
    assert frame["unemp"].tolist()[:2] == [5.8, -5.1] and np.isnan(frame["unemp"][2]) and frame["unemp"][3] == 6.0
    assert frame["year"].dtype == float and frame["region"].tolist() == ["north", "south", "north", "south"]
    assert frame["code"].dtype.kind == "i"  # whole numbers were numbers already
    err = capsys.readouterr().err
    assert "2 column(s) hold numbers with a decimal comma (year, unemp)" in err
    # a text column that merely contains commas stays text, and a comma-separated file is never touched
    other = tmp_path / "text.csv"
    other.write_text("a;b\n1,5;x\nsee, also;y\n", encoding="utf-8")
    assert read_table(str(other), quiet=True)["a"].tolist() == ["1,5", "see, also"]


def test_a_quantity_asked_to_be_classes_is_pointed_at_regression(tmp_path, capsys):
    data = tmp_path / "food.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"income": rng.normal(size=40), "spend": rng.normal(size=40).round(3)}).to_csv(data, index=False)
    assert _fit(tmp_path, data, "--target", "spend", "--task", "classification") == 2
    err = capsys.readouterr().err
    assert "40 rows for 39 classes" in err and "if the target is a quantity, pass --task regression" in err


def test_a_tab_separator_can_be_named(tmp_path, capsys):
    data = _wine_like(tmp_path, sep="\t")
    assert read_table(str(data), sep="\\t").shape == (60, 13)
    assert read_table(str(data), sep="tab").shape == (60, 13)


# ------------------------------------------------------------------ a saved index column
def test_a_saved_index_is_noticed_and_can_be_dropped(tmp_path, capsys):
    _table().to_csv(tmp_path / "d.csv")  # pandas writes its index as a first, unnamed column
    assert main(["check", str(tmp_path / "d.csv"), "--target", "label", "--min-severity", "warning"]) in (0, 1)
    out = capsys.readouterr().out
    assert "saved_index" in out and "'Unnamed: 0'" in out and "--drop" in out, out
    assert main(["fit", str(tmp_path / "d.csv"), "--target", "label", "--out", str(tmp_path / "run"),
                 "--max-epochs", "2", "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "column 'Unnamed: 0' looks like a saved index (0, 1, 2, …)" in err, err
    assert main(["fit", str(tmp_path / "d.csv"), "--target", "label", "--out", str(tmp_path / "run2"),
                 "--max-epochs", "2", "--no-report", "--drop", "Unnamed: 0"]) == 0
    assert "saved index" not in capsys.readouterr().err
    assert json.loads((tmp_path / "run2" / "model" / "model.json").read_text())["feature_names_in"] == ["a", "b", "c"]


def test_drop_names_a_column_that_is_not_there(tmp_path, capsys):
    _table().to_csv(tmp_path / "d.csv", index=False)
    assert _fit(tmp_path, tmp_path / "d.csv", "--target", "label", "--drop", "A") == 2
    assert "did you mean 'a'?" in capsys.readouterr().err


# ------------------------------------------------------------------ check's exit status and the commands' help
def test_check_exits_1_when_a_finding_is_an_error(tmp_path, capsys):
    _table().to_csv(tmp_path / "d.csv", index=False)
    assert main(["check", str(tmp_path / "d.csv"), "--target", "label", "--init", "zeros"]) == 1
    assert "error" in capsys.readouterr().out


def _help(*command: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "trainwell", *command, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return " ".join(proc.stdout.split())


def test_help_lists_only_flags_the_command_uses():
    check, lr_find = _help("check"), _help("lr-find")
    assert "--patience" not in check and "--validation-fraction" not in check and "--test-fraction" in check
    assert "exit status 1" in check.lower()
    for ignored in ("--patience", "--test-fraction", "--lr-schedule", "--max-epochs", "--lr "):
        assert ignored not in lr_find, ignored
    fit = _help("fit")
    for flag in TRAINING_FLAGS:
        assert flag.flag in fit, flag.flag
    assert re.search(r"--task \{auto,classification,regression\}\s+\S", fit)  # --task has help text
    assert "(default mlp" in _help("demo") and "(default auto" in fit


# ------------------------------------------------------------------ one table of training flags
def test_every_estimator_parameter_is_a_flag_or_excluded_for_a_reason():
    flags = {f.param for f in TRAINING_FLAGS}
    for cls in (NeuralNetClassifier, NeuralNetRegressor):
        for param in cls().get_params():
            assert (param in flags) != (param in NOT_FLAGS), param
    assert all(len(reason) > 20 for reason in NOT_FLAGS.values())


def test_the_defaults_shown_are_the_estimators_defaults():
    defaults = {**inspect.signature(NeuralNetRegressor).parameters, **inspect.signature(NeuralNetClassifier).parameters}
    for flag in TRAINING_FLAGS:
        if flag.param == "random_state":
            continue  # the command line seeds every run (0), so a run is repeatable by default
        expected = defaults[flag.param].default
        assert flag.value(None) == expected, flag.flag


def test_the_readme_lists_every_flag():
    text = README.read_text()
    for flag in TRAINING_FLAGS:
        assert re.search(rf"{re.escape(flag.flag)}(?![\w-])", text), flag.flag


def test_new_flags_reach_the_estimator(tmp_path):
    _table(120).to_csv(tmp_path / "d.csv", index=False)
    assert _fit(tmp_path, tmp_path / "d.csv", "--target", "label", "--class-weight", "balanced", "--lr-schedule", "step",
                "--loss", "hinge", "--validation-fraction", "0.3", "--l1", "1e-5", "--init", "xavier",
                "--activation", "leaky_relu=0.1", "--optimizer", "Momentum", "--momentum", "0.8") == 0
    params = json.loads((tmp_path / "run" / "config.json").read_text())["params"]
    assert {k: params[k] for k in ("class_weight", "lr_schedule", "loss", "validation_fraction", "l1", "init", "momentum")} == {
        "class_weight": "balanced", "lr_schedule": "step", "loss": "hinge", "validation_fraction": 0.3, "l1": 1e-5,
        "init": "xavier", "momentum": 0.8}
    assert params["activation"] == ["leaky_relu", 0.1]


def test_a_flag_of_the_other_task_is_refused_in_one_sentence(tmp_path, capsys):
    frame = _table()
    frame["value"] = np.linspace(0, 1, len(frame)) + frame["a"]
    frame.drop(columns="label").to_csv(tmp_path / "d.csv", index=False)
    assert _fit(tmp_path, tmp_path / "d.csv", "--target", "value", "--class-weight", "balanced") == 2
    err = capsys.readouterr().err
    assert "--class-weight" in err and "regression" in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(ValueError, match="--output-activation"):
        build_estimator("classification", {"output_activation": "sigmoid"})


@pytest.mark.parametrize(("flags", "words"), [
    (["--class-weight", "x=abc"], "--class-weight"),
    (["--validation-fraction", "most"], "--validation-fraction"),
    (["--lr", "fast"], "--lr 'fast' must be a number"),
    (["--batch-size", "1.5"], "--batch-size"),
    (["--conv", "32x3"], "--conv"),
])
def test_bad_flag_text_is_one_sentence(tmp_path, capsys, flags, words):
    _table().to_csv(tmp_path / "d.csv", index=False)
    assert _fit(tmp_path, tmp_path / "d.csv", "--target", "label", *flags) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err


def test_one_value_only_shows_a_plain_number(tmp_path, capsys):
    pd.DataFrame({"a": np.arange(6.0), "label": [1] * 6}).to_csv(tmp_path / "d.csv", index=False)
    assert _fit(tmp_path, tmp_path / "d.csv", "--target", "label") == 2
    err = capsys.readouterr().err
    assert "one value only (1)" in err and "np." not in err, err


def test_non_finite_in_npy_named_at_the_users_row_before_the_test_split(tmp_path, capsys):
    """``fit X.npy --labels y.npy`` holds out its test rows itself: the error names the row of
    the user's array and counts every bad value, not those of the training part."""
    import numpy as np

    from trainwell.cli import main

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    X[7, 2], X[150, 1], X[199, 0] = np.inf, np.nan, np.nan
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", (rng.random(200) > 0.5).astype(np.int64))
    code = main(["fit", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y.npy"), "--out", str(tmp_path / "run"),
                 "--missing", "error"])
    err = capsys.readouterr().err
    assert code == 2 and "2 NaN values and 1 infinite value" in err and "row 7," in err
    assert not (tmp_path / "run").exists()
    # by default the NaN are missing values to fill: only the infinite value is refused, and called so
    code = main(["fit", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y.npy"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "holds 1 infinite value (first at row 7," in err and "NaN" not in err, err
    assert "missing" not in err and not (tmp_path / "run").exists()
