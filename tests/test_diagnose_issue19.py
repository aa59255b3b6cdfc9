"""Diagnosis that generalises (issue #19): divergence on finite blow-ups, advice that names a sane
learning rate and never contradicts itself or repeats a setting, one cause first with its symptoms
folded under it, and the scenario bank's fast subset held to the same rules."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes

from test_diagnose_advice import (
    HEALTHY_LAYER,
    HEALTHY_OUTPUT,
    findings_for,
    healthy_records,
    healthy_rows,
    make_estimator,
)
from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.diagnose.findings import Finding, fold_symptoms, format_findings
from trainwell.diagnose.probes import DivergenceGuard
from trainwell.train import RunState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _codes(findings):
    return [f.code for f in findings]


# ---------------------------------------------------------------- divergence on a finite blow-up
def test_a_finite_blow_up_stops_the_run_as_diverged_and_restores_the_last_sane_weights():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    run = RunState(net=net, optimizer=None, loss_fn=None, config=None)
    guard = DivergenceGuard()
    guard.on_fit_begin(run)
    run.batch_loss = torch.tensor(1.2)
    assert guard.wants_step(run)  # the first step: the untrained network's loss is the reference
    guard.on_step_end(run)
    run.epoch = 1
    run.history.append({"train_loss": 0.9})
    guard.on_epoch_end(run)
    good = net[0].weight.detach().clone()
    assert not run.stop_requested
    with torch.no_grad():
        net[0].weight.mul_(1e6)
    run.epoch = 2
    run.history.append({"train_loss": 7.9e13})  # finite, but far beyond 1,000x the start
    guard.on_epoch_end(run)
    assert run.stop_requested and run.stop_reason.startswith("diverged")
    assert torch.equal(net[0].weight, good)
    assert run.diverged["restored_epoch"] == 1 and run.diverged["initial_loss"] == pytest.approx(1.2)


def test_a_regressor_at_lr_1000_stops_as_diverged_and_is_told_a_sane_rate():
    X, y = load_diabetes(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralNetRegressor(lr=1000.0, max_epochs=40, patience=10, random_state=0).fit(X, y)
    assert est.stop_reason_.startswith("diverged"), est.stop_reason_
    assert est.n_iter_ < 40 and est.run_.diverged is not None
    assert np.isfinite(est.predict(X)).all()
    # the weights put back are the sane ones (here the initial ones), not the blown-up epoch that early
    # stopping would otherwise have kept as its "best" finite validation loss
    assert est.best_epoch_ == est.run_.diverged["restored_epoch"] and est.score(X, y) > -5
    top = est.findings_[0]
    assert top.code == "lr_too_high" and top.severity == "error"
    assert "diverged" in _codes(top.because)  # one cause, the divergence its evidence
    assert top.fix == {"lr": 0.001} and "lr=0.001" in top.advice  # Adam's usual rate, not lr=100
    assert not any(f.code == "update_ratio_low" for f in est.findings_)


# ---------------------------------------------------------------- advice
def test_lr_advice_names_the_usual_rate_when_the_rate_is_far_off():
    exploded = findings_for(healthy_rows(train_loss=[8e13, 2.4, 2.4, 2.4, 2.4, 2.4]), lr=10.0)
    assert exploded[0].code == "lr_too_high" and exploded[0].fix == {"lr": 0.001}
    near = findings_for(healthy_rows(train_loss=[8e13, 2.4, 2.4, 2.4, 2.4, 2.4]), lr=5e-3)
    assert near[0].fix == {"lr": 0.0005}  # 10-fold lower when that is already in the usual range
    slow_layer = {**HEALTHY_LAYER, "update_ratio": 1e-6}
    slow = findings_for(healthy_rows(loss_vs_first=[1.0, 0.99, 0.98, 0.97, 0.96, 0.95]),
                        {"dense1": slow_layer, "output": HEALTHY_OUTPUT}, lr=1e-7)
    assert slow[0].code == "lr_too_low" and slow[0].fix == {"lr": 0.001}


def test_never_two_findings_moving_the_learning_rate_opposite_ways():
    # weights that blew up make every later step tiny relative to them: not a reason to raise lr
    grown = {**HEALTHY_LAYER, "weight_rms": [0.15, 500.0, 500.0, 500.0, 500.0, 500.0], "update_ratio": 1e-7}
    found = findings_for(healthy_rows(train_loss=[5.0, 9e12, 9e12, 9e12, 9e12, 9e12]),
                         {"dense1": grown, "output": HEALTHY_OUTPUT}, lr=1000.0)
    flat = found + [g for f in found for g in f.because]
    assert found[0].code == "lr_too_high"
    assert "update_ratio_low" not in _codes(flat) and "lr_too_low" not in _codes(flat)


def test_never_advises_what_is_already_set():
    rows = healthy_rows()
    estimator = make_estimator(init="auto", batchnorm=True, activation="relu")
    found = findings_for(rows, records=healthy_records(initial_loss=9.0), estimator=estimator)
    init = next(f for f in found if f.code == "init_loss_off")
    assert "init='auto'" not in init.advice and init.fix == {}
    other = findings_for(rows, records=healthy_records(initial_loss=9.0), estimator=make_estimator(init=("normal", 0.5)))
    assert "init='auto'" in next(f for f in other if f.code == "init_loss_off").advice


def test_a_divergence_is_not_called_overfitting_and_overfitting_is_not_called_underfitting():
    rising = healthy_rows(train_loss=[2.0, 1.0, 50.0, 40.0, 30.0, 20.0], val_loss=[2.0, 1.0, 60.0, 80.0, 90.0, 95.0])
    found = findings_for(rising)
    assert found[0].code == "lr_too_high" and "overfitting" not in _codes(found)
    # Adult at full size: validation loss rises after epoch 2 while training accuracy stays at 89 %
    adult = healthy_rows(train_loss=[0.40, 0.33, 0.30, 0.27, 0.25, 0.23], val_loss=[0.36, 0.33, 0.37, 0.39, 0.41, 0.44],
                         train_accuracy=[0.84, 0.87, 0.88, 0.885, 0.888, 0.89],
                         val_accuracy=[0.84, 0.855, 0.85, 0.85, 0.848, 0.845])
    codes = _codes(findings_for(adult, records=healthy_records(initial_loss=0.69),
                                estimator=make_estimator(classes_=[0, 1])))
    assert "overfitting" in codes and "underfitting" not in codes


# ---------------------------------------------------------------- one cause first
def test_symptoms_fold_under_their_cause_and_show_indented():
    cause = Finding("lr_too_high", "warning", "The learning rate 10 is too high.", "Use lr=0.001.", fix={"lr": 0.001})
    dead = Finding("dead_relu", "error", "90% of the ReLUs in dense1 never fired.")
    jumpy = Finding("update_ratio_high", "warning", "Steps change 30% of the weights.")
    other = Finding("class_imbalance", "warning", "Class 1 has 3 rows.")
    folded = fold_symptoms([cause, dead, jumpy, other])
    assert _codes(folded) == ["lr_too_high", "class_imbalance"]
    assert _codes(folded[0].because) == ["dead_relu", "update_ratio_high"]
    assert folded[0].severity == "error"  # as serious as the worst symptom it explains
    text = format_findings(folded)
    assert "\n           because: dead_relu: 90% of the ReLUs" in text
    assert "because: update_ratio_high" in str(folded[0])


def test_an_imbalance_explains_a_poor_fit_only_near_the_majority_share():
    def imbalance(counts):
        return Finding("class_imbalance", "warning", "Rare classes.", evidence={"counts": counts})

    def poor(score):
        return Finding("underfitting", "info", f"Scores only {score:.0%}.", evidence={"train_accuracy": score})

    # 95 % of the rows one class, the model at 95 %: the imbalance is why
    assert _codes(fold_symptoms([imbalance({"a": 95, "b": 5}), poor(0.95)])) == ["class_imbalance"]
    # 56 classes, the most common 7 % of the rows, the model at 89 % (an unseen table): not the imbalance
    many = {f"c{i}": (30 if i == 0 else 7 + i % 3) for i in range(56)}
    assert _codes(fold_symptoms([imbalance(many), poor(0.89)])) == ["class_imbalance", "underfitting"]


def test_a_real_far_too_high_rate_gives_one_finding_with_its_symptoms(iris):
    X, y = iris
    est = NeuralNetClassifier(lr=10.0, max_epochs=30, random_state=0).fit(X, y)
    top = est.findings_[0]
    assert top.code in ("lr_too_high", "diverged") and top.because
    moves = {f.code for f in est.findings_} & {"update_ratio_low", "lr_too_low"}
    assert not moves


def test_the_html_report_shows_the_folded_symptoms(tmp_path, iris):
    from trainwell.report.html import _finding_html

    cause = Finding("lr_too_high", "error", "Too high.", "Use lr=0.001.",
                    because=(Finding("dead_relu", "error", "Dead."),))
    import dataclasses

    html = _finding_html(dataclasses.asdict(cause))
    assert "because" in html and "dead_relu" in html and "Dead." in html


# ---------------------------------------------------------------- the bank, a fast subset
FAST_SUBSET = ("iris: classifier lr=10", "iris: zero init", "diabetes: regressor lr=1000",
               "wine: plain SGD lr 1e-5", "healthy iris: defaults", "healthy diabetes: regressor",
               "autompg: regressor lr=1000", "healthy autompg: regressor")


@pytest.fixture(scope="module")
def fast_bank():
    from bench.scenarios import SCENARIOS, run

    chosen = [s for s in SCENARIOS if s.name in FAST_SUBSET]
    assert len(chosen) == len(FAST_SUBSET)
    return [run(s) for s in chosen]


def test_the_bank_never_contradicts_itself_nor_advises_what_is_set(fast_bank):
    for r in fast_bank:
        assert r["contradictions"] == [], r["name"]
        assert r["self_advice"] == [], r["name"]


def test_the_bank_names_the_faults_and_leaves_healthy_runs_alone(fast_bank):
    for r in fast_bank:
        if r["expected"]:
            assert r["hit1"], (r["name"], r["top"])
        else:
            assert r["alarms"] == [], (r["name"], r["alarms"])
    assert all(math.isfinite(v) for r in fast_bank for v in r["stats"].values() if isinstance(v, float))


def test_the_fresh_part_is_new_data_in_a_column_of_its_own():
    from bench.scenarios import CALIBRATION, FRESH, SCENARIOS, VALIDATION, data, main, summary_table

    assert not set(FRESH) & (set(CALIBRATION) | set(VALIDATION))
    fresh = [s for s in SCENARIOS if s.part == "fresh"]
    assert {s.dataset for s in fresh} == set(FRESH)
    assert sum(bool(s.expected) for s in fresh) >= 14 and sum(not s.expected for s in fresh) >= 6
    X_train, X_test, y_train, y_test = data("fair")  # read from the statsmodels wheel
    assert len(y_train) + len(y_test) == 6366 and set(np.unique(y_train)) == {0, 1}
    assert list(data("grunfeld")[0].columns) == ["value", "capital", "year", "firm"]
    row = {"expected": ["lr_too_high"], "hit1": True, "hit2": True, "alarms": [], "contradictions": [],
           "self_advice": [], "findings": [], "fix_trial": None}
    table = summary_table([{**row, "part": "validation"}, {**row, "part": "fresh"}])
    assert table.splitlines()[0] == "| | validation | fresh validation (blind) |"
    with pytest.raises(SystemExit, match="not a part"):
        main(["--part=nope"])


@pytest.mark.slow
def test_the_whole_bank_meets_its_validation_targets():
    from bench.scenarios import SCENARIOS, run, summary

    results = [run(s) for s in SCENARIOS]
    val = summary(results, "validation")
    assert val["contradictions"] == 0 and val["self_advice"] == 0
    assert val["top2"] / val["faults"] >= 0.85 and val["false_alarm_runs"] == 0


# ---------------------------------------------------------------- seen during fit, said in words
def _thinned_digits(ratio: int = 60):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    pos, neg = np.flatnonzero(y == 0), np.flatnonzero(y != 0)
    keep = np.sort(np.concatenate([neg, pos[: len(neg) // ratio]]))
    return X[keep], (y[keep] == 0).astype(int)


def test_fit_itself_names_an_extreme_class_imbalance_and_keeps_the_counts(tmp_path):
    from trainwell import load

    X, y = _thinned_digits()
    est = NeuralNetClassifier(max_epochs=5, random_state=0).fit(X, y)
    assert est.class_counts_.sum() == est.n_train_ and est.class_counts_.tolist()[1] < est.class_counts_[0] / 30
    found = {f.code: f for f in est.findings_}
    assert found["class_imbalance"].severity == "warning" and found["class_imbalance"].fix == {"class_weight": "balanced"}
    weighted = NeuralNetClassifier(max_epochs=5, random_state=0, class_weight="balanced").fit(X, y)
    assert next(f for f in weighted.findings_ if f.code == "class_imbalance").severity == "info"
    est.save(tmp_path / "m")
    assert load(tmp_path / "m").class_counts_.tolist() == est.class_counts_.tolist()


def test_the_cli_never_says_nothing_to_worry_about_above_notes(tmp_path):
    from types import SimpleNamespace

    from rich.console import Console

    from trainwell.cli.output import print_outcome

    console = Console(record=True, width=200)
    note = Finding("overfitting", "info", "The validation loss rose after epoch 2 of 40.", "Try l2=1e-3.")
    est = SimpleNamespace(findings_=[note], n_iter_=40, best_epoch_=2, run_=None)
    print_outcome(console, est, {"accuracy": 0.85, "fit_seconds": 1.0}, tmp_path)
    text = console.export_text()
    assert "nothing to worry about" not in text and "overfitting: The validation loss rose after epoch 2" in text
    folded = Finding("lr_too_high", "error", "Too high.", "Use lr=0.001.", because=(Finding("dead_relu", "error", "Dead."),))
    console = Console(record=True, width=200)
    print_outcome(console, SimpleNamespace(findings_=[folded], n_iter_=3, best_epoch_=1, run_=None),
                  {"accuracy": 0.5, "fit_seconds": 1.0}, tmp_path)
    assert "\n      because dead_relu: Dead." in console.export_text()
    # the note that the data were changed (gaps filled) is said once, with notes only and with warnings
    filled = Finding("missing_filled", "info", "The training rows have 5 missing (NaN) values.", "Nothing to do.")
    for findings in ([filled, note], [folded, filled]):
        console = Console(record=True, width=200)
        print_outcome(console, SimpleNamespace(findings_=findings, n_iter_=3, best_epoch_=1, run_=None),
                      {"accuracy": 0.5, "fit_seconds": 1.0}, tmp_path)
        assert console.export_text().count("missing_filled: The training rows have 5 missing") == 1


def test_the_fix_names_the_stronger_regulariser_and_a_dropout_that_underfits():
    shrunk = {**HEALTHY_LAYER, "weight_rms": 0.004}
    poor = healthy_rows(train_accuracy=[0.5, 0.7, 0.8, 0.85, 0.88, 0.9])
    found = findings_for(poor, {"dense1": shrunk, "output": HEALTHY_OUTPUT}, l1=0.1, l2=1e-4)
    strong = next(f for f in found if f.code == "regularization_too_strong")
    assert "l1=0.1" in strong.message and strong.fix == {"l1": 0.003}
    flat = healthy_rows(train_accuracy=[0.3, 0.4, 0.5, 0.55, 0.6, 0.6], val_accuracy=[0.3, 0.4, 0.5, 0.55, 0.6, 0.6])
    heavy = make_estimator(spec_=__import__("types").SimpleNamespace(hidden=(64, 64), conv=(), dropout=0.9))
    under = next(f for f in findings_for(flat, estimator=heavy) if f.code == "underfitting")
    assert under.severity == "warning" and under.fix == {"dropout": 0.2} and "dropout=0.9" in under.message
