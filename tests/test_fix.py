"""Advice that is checked: ``trainwell.fix`` and ``trainwell fit --fix`` re-train with the top finding's fix."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import train_test_split

import trainwell
from trainwell import NeuralNetClassifier
from trainwell.cli import main
from trainwell.exceptions import ConfigError


def test_a_learning_rate_far_too_high_is_fixed_and_the_gain_is_measured_on_the_same_rows():
    X, y = load_digits(return_X_y=True)
    est = NeuralNetClassifier(lr=3.0, max_epochs=10)
    result = trainwell.fix(est, X, y, random_state=1)
    assert result.finding.code == "lr_too_high" and result.fix == result.finding.fix and "lr" in result.fix
    assert result.improved and result.after[0] > result.before[0] + 0.3
    assert "raised the test accuracy" in str(result) and "keep it" in str(result)
    assert est.get_params()["lr"] == 3.0  # the estimator given is not changed
    # the oracle: the same split and seed trained by hand gives the same held-out scores
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=1, stratify=y)
    by_hand = clone(est).set_params(random_state=1, **result.fix).fit(X_tr, y_tr)
    assert by_hand.score(X_te, y_te) == result.after[0]
    assert result.fixed_estimator.get_params()["lr"] == result.fix["lr"]


def test_a_healthy_run_gets_no_fix():
    X, y = load_iris(return_X_y=True)
    result = trainwell.fix(NeuralNetClassifier(max_epochs=30), X, y)
    assert result.finding is None and result.fix == {} and result.after == [] and result.improved is None
    assert str(result).startswith("No finding advised a change")


def test_repeated_seeds_are_judged_by_the_wilcoxon_test():
    X, y = load_iris(return_X_y=True)
    result = trainwell.fix(NeuralNetClassifier(lr=5.0, max_epochs=8), X, y, repeats=5)
    assert len(result.before) == len(result.after) == 5
    expected = stats.wilcoxon(result.after, result.before, zero_method="zsplit").pvalue
    assert result.p_value == pytest.approx(expected)
    assert "Wilcoxon p=" in str(result)
    with pytest.raises(ConfigError, match="repeats=0"):
        trainwell.fix(NeuralNetClassifier(), X, y, repeats=0)


def test_cli_fit_fix_trains_again_into_a_second_run_folder(tmp_path, capsys):
    X, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(X, columns=[f"p{i}" for i in range(X.shape[1])]).assign(digit=y)
    frame.to_csv(tmp_path / "digits.csv", index=False)
    out = tmp_path / "run"
    assert main(["fit", str(tmp_path / "digits.csv"), "--target", "digit", "--out", str(out), "--lr", "3",
                 "--max-epochs", "8", "--no-report", "--fix", "--json"]) == 0
    text, objects, decoder = capsys.readouterr().out, [], json.JSONDecoder()
    while text.strip():  # a stream of JSON objects: the first run, the fixed run, the verdict
        obj, end = decoder.raw_decode(text.lstrip())
        objects.append(obj)
        text = text.lstrip()[end:]
    first, rerun, second = objects
    assert rerun["run_folder"].endswith("run-fixed")
    assert second["finding"] == "lr_too_high" and second["improved"] is True
    assert second["before"] == [first["metrics"]["accuracy"]]
    fixed = json.loads((tmp_path / "run-fixed" / "metrics.json").read_text())
    assert second["after"] == [fixed["accuracy"]] and fixed["accuracy"] > first["metrics"]["accuracy"]
    assert trainwell.load(tmp_path / "run-fixed").get_params()["lr"] == second["fix"]["lr"]
    assert np.isclose(trainwell.load(out).get_params()["lr"], 3.0)
