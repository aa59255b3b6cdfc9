"""trainwell.tune: the two stages, the border round, the run folder, resuming after a kill."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import optuna
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split

from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.exceptions import ConfigError
from trainwell.tune import Stages, Storage, tune
from trainwell.tune.search import narrow_lr
from trainwell.tune.space import Range

optuna.logging.set_verbosity(optuna.logging.WARNING)

SMALL = {"lr": (1e-4, 1e-1, "log"), "l2": (1e-6, 1e-2, "log"), "dropout": (0.0, 0.3)}


def _net(**kw):
    return NeuralNetClassifier(hidden=(16,), batch_size=32, **kw)


@pytest.fixture(scope="module")
def search(tmp_path_factory, iris_module):
    X, y = iris_module
    out = tmp_path_factory.mktemp("search")
    result = tune(_net(), X, y, space=SMALL, n_trials=6, stage1_epochs=2, stage2_epochs=4, out=out)
    return result, out


@pytest.fixture(scope="module")
def iris_module():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def test_stages_budgets_and_scores(search):
    result, _ = search
    t = result.trials
    done = t[t["state"].isin(["COMPLETE", "PRUNED"])]
    assert (done["stage"] == "lr").sum() == 2 and (done["stage"] == "refine").sum() == 4
    # stage 1 searches the learning rate alone, short runs
    lr_rows = t[t["stage"] == "lr"]
    assert lr_rows[["l2", "dropout"]].isna().all().all()
    assert (lr_rows["epochs"].dropna() <= 2).all()
    refine = t[(t["stage"] == "refine") & (t["state"] == "COMPLETE")]
    assert result.best_score == pytest.approx(refine["score"].min())
    assert set(result.best_params) == set(SMALL)
    # the score is the validation loss at the epoch early stopping kept
    row = refine.loc[refine["score"].idxmin()]
    assert row["score"] == pytest.approx(row["val_loss"])


def test_stage_two_narrows_the_learning_rate_range(search):
    result, out = search
    stage1 = result.spaces["trainwell.r0.lr"]["lr"]
    stage2 = result.spaces["trainwell.r0.refine"]["lr"]
    width1 = math.log10(stage1["high"]) - math.log10(stage1["low"])
    width2 = math.log10(stage2["high"]) - math.log10(stage2["low"])
    assert width2 <= width1 / 2
    assert stage1["low"] <= stage2["low"] < stage2["high"] <= stage1["high"]
    refine = result.trials[result.trials["stage"] == "refine"]
    sampled = refine[refine["number"] > 0]  # trial 0 is the baseline: the estimator's own settings
    assert sampled["lr"].between(stage2["low"], stage2["high"]).all()
    assert refine.loc[refine["number"] == 0, "note"].str.startswith("baseline").all()
    # stage 1 ran with small regularisation: each regularisation range's low end
    study = optuna.load_study(study_name="trainwell.r0.lr", storage=f"sqlite:///{out / 'study.sqlite3'}")
    assert json.loads(study.user_attrs["config"])["fixed"] == {"l2": 1e-6, "dropout": 0.0}


def test_best_estimator_and_run_folder(search, iris_module):
    result, out = search
    X, y = iris_module
    est = result.best_estimator
    assert est.lr == pytest.approx(result.best_params["lr"]) and est.max_epochs == 4
    assert est.predict(X).shape == (150,)
    for name in ("study.sqlite3", "trials.csv", "search.json", "report.html", "model/model.json"):
        assert (out / name).exists(), name
    saved = json.loads((out / "search.json").read_text())
    assert saved["best_score"] == pytest.approx(result.best_score)
    page = (out / "report.html").read_text()
    assert page.count("<img") == 2 and "data:image/png;base64," in page
    assert "src='http" not in page and 'src="http' not in page  # self-contained
    from trainwell import load

    assert (load(out / "model").predict(X) == est.predict(X)).all()


LOW_LR = {"lr": (1e-5, 1e-3, "log")}  # too low for 3 epochs: the best lr sits at the top of the range


def test_border_warning_without_extension(iris_module):
    X, y = iris_module
    result = tune(_net(), X, y, space=LOW_LR, n_trials=12, stage1_epochs=3, stage2_epochs=3, refit=False)
    assert len(result.warnings) == 1
    assert "The best lr" in result.warnings[0] and "widen the range to 1e-05 … 0.01" in result.warnings[0]
    assert result.border[0].side == "high" and result.border[0].suggested == (1e-5, 1e-2)
    assert result.best_params["lr"] > 10 ** -3.2  # in the top 10 % of the log range


def test_extend_borders_runs_again_on_the_widened_range(iris_module):
    X, y = iris_module
    result = tune(_net(), X, y, space=LOW_LR, n_trials=12, stage1_epochs=3, stage2_epochs=3, refit=False,
                  extend_borders=True)
    assert "Round 0 ended on a border" in result.notes[0]
    assert {0, 1} <= set(result.trials["round"])
    assert result.spaces["trainwell.r1.lr"]["lr"] == {"low": 1e-5, "high": 1e-2, "log": True, "integer": False}
    round1 = result.trials[(result.trials["round"] == 1) & (result.trials["stage"] == "lr")]
    assert (round1["lr"] > 1e-3).any()  # it did look beyond the old border
    assert result.best_params["lr"] > 1e-3


def test_narrow_lr_keeps_the_best_and_halves_the_range_at_most():
    outer = Range("lr", 1e-5, 1e-1, log=True)
    lrs = [1e-5, 3e-4, 1e-3, 2e-3, 5e-3, 1e-2, 8e-2, 1e-4]
    losses = [2.0, 0.5, 0.3, 0.25, 0.4, 0.9, 5.0, 1.2]
    trials = [optuna.trial.create_trial(params={"lr": lr}, distributions={"lr": FloatDistribution(1e-5, 1e-1, log=True)},
                                        value=v) for lr, v in zip(lrs, losses, strict=True)]
    narrow = narrow_lr(trials, outer, "minimize")
    assert narrow.low <= 2e-3 <= narrow.high
    assert narrow.width() <= outer.width() / 2 + 1e-9
    assert narrow.low >= 1e-5 and narrow.high <= 1e-1
    # the best quarter (2e-3, 1e-3) spans 0.3 decades; with 0.4-decade margins the range is ~1e-3.4 … 1e-2.3
    assert narrow.low == pytest.approx(10 ** (-3 - 0.4), rel=0.01)
    with pytest.raises(ConfigError, match="No learning rate"):
        narrow_lr([], outer, "minimize")


def test_regressor_and_fixed_learning_rate(iris_module):
    X, _ = iris_module
    y = X[:, 0] * 2 + X[:, 1]
    result = tune(NeuralNetRegressor(hidden=(8,)), X[:, 1:], y, space={"lr": 0.01, "l2": (1e-6, 1e-2, "log")},
                  n_trials=3, stage2_epochs=3, metric="r2", refit=False)
    # lr fixed: no learning-rate stage, one stage of 3 trials
    assert set(result.trials["stage"]) == {"refine"} and len(result.trials) == 3
    assert -10 < result.best_score <= 1


def test_learning_rate_is_added_when_the_space_omits_it(iris_module):
    X, y = iris_module
    result = tune(_net(), X, y, space={"dropout": (0.0, 0.3)}, n_trials=3, stage1_epochs=2, stage2_epochs=2,
                  refit=False)
    assert result.spaces["trainwell.r0.lr"]["lr"]["low"] == 1e-5
    assert set(result.best_params) == {"lr", "dropout"}
    assert "did not name lr" in result.notes[0]


def test_confirm_reruns_the_top_configurations_on_repeated_folds(iris_module):
    X, y = iris_module
    net = _net()
    result = tune(net, X, y, space=SMALL, n_trials=5, stage1_epochs=2, stage2_epochs=3, confirm=2, cv=3)
    comparison = result.confirmation
    assert comparison is not None and len(comparison.scores) == 3  # one row per repeat
    # the top two configurations, and the baseline (the estimator's own settings) always
    assert 2 <= len(comparison.names) <= 3
    assert any(name.endswith("(baseline)") for name in comparison.names)
    best = comparison.best
    base = next(n for n in comparison.names if n.endswith("(baseline)"))
    t = comparison.test(best, base) if best != base else None
    if best == base or not (t.significant and t.better == best):
        # not shown better than the user's settings: those stay
        assert result.best_params == {k: net.get_params()[k] for k in SMALL}
    else:
        number = int(best.split()[1])
        row = result.trials[(result.trials["stage"] == "refine") & (result.trials["number"] == number)].iloc[0]
        assert result.best_params["lr"] == pytest.approx(row["lr"])
    assert result.best_estimator.lr == pytest.approx(result.best_params["lr"])
    assert comparison.verdict.splitlines()[0] in result.notes


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"estimator": LogisticRegression()}, "needs a trainwell estimator"),
        ({"n_trials": 1}, "n_trials=1 must be an integer of at least 2"),
        ({"metric": "r2"}, "not available for NeuralNetClassifier"),
        ({"sampler": "grid"}, "'random' (the notes' advice)"),
        ({"space": {"lr": 0.01}}, "searches nothing"),
        ({"stage1_trials": 5, "n_trials": 5}, "stage1_trials=5"),
        ({"stages": Stages(stage1_trials=5), "n_trials": 5}, "stage1_trials=5"),
        ({"workers": 0}, "workers=0 must be an integer of at least 1"),
        ({"stage1_epochs": 0}, "stage1_epochs=0 must be an integer of at least 1"),
        ({"stage2_epochs": 0}, "stage2_epochs=0 must be a positive integer or None"),
        ({"confirm": 1}, "confirm=1 must be an integer of at least 2"),
        ({"stages": {"stage1_epochs": 3}}, "must be a trainwell.tune.Stages(...)"),
    ],
)
def test_bad_arguments(iris_module, kwargs, words):
    X, y = iris_module
    args = {"estimator": _net(), "space": SMALL, "n_trials": 4, **kwargs}
    with pytest.raises(ConfigError) as info:
        tune(args.pop("estimator"), X, y, **args)
    assert words in str(info.value)


def test_grouped_settings_give_the_same_search_as_the_flat_keywords(iris_module, tmp_path):
    X, y = iris_module
    common = {"space": SMALL, "n_trials": 6, "random_state": 3, "refit": False, "report": False}
    flat = tune(_net(), X, y, stage1_trials=2, stage1_epochs=2, stage2_epochs=3, prune=False, baseline=False,
                out=tmp_path / "flat", study_name="same", **common)
    grouped = tune(_net(), X, y, stages=Stages(stage1_trials=2, stage1_epochs=2, stage2_epochs=3, prune=False,
                                               baseline=False),
                   storage=Storage(out=tmp_path / "grouped", study_name="same"), **common)
    columns = ["study", "round", "stage", "number", "state", "lr", "l2", "dropout", "epochs", "score"]
    assert (flat.trials["study"].str.startswith("same.")).all() and len(flat.trials) == 6
    pd.testing.assert_frame_equal(flat.trials[columns], grouped.trials[columns])
    assert flat.best_params == grouped.best_params and flat.spaces == grouped.spaces
    assert (tmp_path / "flat" / "study.sqlite3").exists() and (tmp_path / "grouped" / "study.sqlite3").exists()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"stages": Stages(stage1_epochs=3), "stage1_epochs": 3},
         "stage1_epochs=3 as a keyword and also stages=Stages(...)"),
        ({"stages": Stages(), "prune": False}, "give it in one place only, e.g. stages=Stages(..., prune=False)"),
        ({"storage": Storage(workers=2), "out": "elsewhere"},
         "out='elsewhere' as a keyword and also storage=Storage(...)"),
    ],
)
def test_a_setting_given_both_ways_is_refused(iris_module, tmp_path, monkeypatch, kwargs, words):
    X, y = iris_module
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        tune(_net(), X, y, space=SMALL, n_trials=4, **kwargs)
    assert words in str(info.value)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_an_unknown_keyword_is_a_type_error(iris_module):
    X, y = iris_module
    with pytest.raises(TypeError, match="unexpected keyword argument 'stage3_epochs'"):
        tune(_net(), X, y, space=SMALL, n_trials=4, stage3_epochs=2)


def test_the_tune_package_stays_readable():
    """No function in trainwell/tune is over 80 lines, and no module there imports another's private name."""
    import ast
    from pathlib import Path

    import trainwell.tune

    long, private = [], []
    for path in sorted(Path(trainwell.tune.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long.append(f"{path.name}:{node.name}")
            if isinstance(node, ast.ImportFrom) and any(a.name.startswith("_") for a in node.names):
                private.append(f"{path.name}: from {node.module} import {[a.name for a in node.names]}")
    assert long == [] and private == []


def test_the_package_is_callable(iris_module):
    import trainwell.tune as tune_package

    X, y = iris_module
    with pytest.raises(ConfigError, match="needs a trainwell estimator"):
        tune_package(LogisticRegression(), X, y)  # trainwell.tune(...) is trainwell.tune.tune(...)
    assert tune_package.space.DEFAULT_SPACE["lr"] == (1e-5, 1e-1, "log")


def test_out_folder_checks(tmp_path, iris_module, search):
    X, y = iris_module
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds other files"):
        tune(_net(), X, y, space=SMALL, n_trials=4, out=tmp_path)
    _, out = search
    with pytest.raises(ConfigError, match="other settings"):
        tune(_net(), X, y, space={**SMALL, "dropout": (0.0, 0.5)}, n_trials=6, stage1_epochs=2, stage2_epochs=4, out=out)


RESUMABLE = """
import sys
from sklearn.datasets import load_iris
from trainwell import NeuralNetClassifier
from trainwell.tune import tune
X, y = load_iris(return_X_y=True)
tune(NeuralNetClassifier(hidden=(16,), batch_size=16), X, y, space={SPACE}, n_trials=14, stage1_trials=2,
     stage1_epochs=2, stage2_epochs=40, prune=False, out=sys.argv[1])
"""


def test_resume_after_kill(tmp_path):
    out = tmp_path / "run"
    code = textwrap.dedent(RESUMABLE).replace("{SPACE}", repr(SMALL))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], env=env)
    storage = f"sqlite:///{out / 'study.sqlite3'}"
    before: dict[int, float] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                study = optuna.load_study(study_name="trainwell.r0.refine", storage=storage)
            except (KeyError, Exception):  # not created yet, or the file is mid-write
                continue
            done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if len(done) >= 2:
                break
        assert proc.poll() is None, "the search finished before it could be killed; make it longer"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    study = optuna.load_study(study_name="trainwell.r0.refine", storage=storage)
    before = {t.number: t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    # a refine budget of 12 leaves room for a few trials to finish between the poll and the
    # kill on a busy machine (with 6, all of them sometimes had); 40 epochs a trial, as faster
    # steps let all 12 15-epoch trials finish between the poll and the kill once
    assert 2 <= len(before) < 12
    X, y = __import__("sklearn.datasets", fromlist=["load_iris"]).load_iris(return_X_y=True)
    result = tune(NeuralNetClassifier(hidden=(16,), batch_size=16), X, y, space=SMALL, n_trials=14, stage1_trials=2,
                  stage1_epochs=2, stage2_epochs=40, prune=False, out=out, refit=False, report=False)
    refine = result.trials[result.trials["stage"] == "refine"]
    complete = refine[refine["state"] == "COMPLETE"]
    assert len(complete) == 12  # the budget, counted across the kill: no trial lost ...
    kept = complete[complete["number"].isin(list(before))]
    assert dict(zip(kept["number"], kept["score"], strict=True)) == before  # ... and none redone
    assert complete["number"].max() >= max(before)  # the numbering continued
    failed = refine[refine["state"] == "FAIL"]
    assert len(failed) <= 1  # the trial that was running when the process died
    # the lr stage finished before the kill and was not run again
    assert (result.trials["stage"] == "lr").sum() == 2


@pytest.mark.slow
def test_workers_on_one_machine(tmp_path, iris_module):
    X, y = iris_module
    result = tune(_net(), X, y, space=SMALL, n_trials=6, stage1_epochs=2, stage2_epochs=4, workers=2, out=tmp_path)
    assert (tmp_path / "study.journal").exists()
    done = result.trials[result.trials["state"].isin(["COMPLETE", "PRUNED"])]
    assert len(done) == 6


@pytest.mark.slow
def test_digits_search_beats_or_matches_defaults(tmp_path):
    """On load_digits, a 30-trial search on the CPU finishes in under 3 minutes, and the
    configuration it picks is at least as good as the defaults on held-out test rows."""
    import torch

    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    wall, cpu = time.perf_counter(), time.process_time()
    result = tune(NeuralNetClassifier(), X_train, y_train, n_trials=30, out=tmp_path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # --confirm 3 on the finished search (it resumes: no trial runs again): the top three
    # configurations and the baseline are re-run on five folds, and a configuration replaces
    # the defaults only when it is better consistently (the notes: Wilcoxon over repeats)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    wall2, cpu2 = time.perf_counter(), time.process_time()
    confirmed = tune(NeuralNetClassifier(), X_train, y_train, n_trials=30, out=tmp_path, confirm=3, cv=folds)
    wall2, cpu2 = time.perf_counter() - wall2, time.process_time() - cpu2
    default = NeuralNetClassifier(random_state=0).fit(X_train, y_train)
    single_acc = result.best_estimator.score(X_test, y_test)
    picked_acc = confirmed.best_estimator.score(X_test, y_test)
    default_acc = default.score(X_test, y_test)
    print(confirmed.confirmation)
    print(f"\n30-trial search with its refit: {wall:.1f} s wall, {cpu:.1f} s CPU on one thread; confirm 3 on 5 folds: "
          f"{wall2:.1f} s wall, {cpu2:.1f} s CPU.\nTest accuracy: defaults {default_acc:.4f}; single-split best "
          f"{single_acc:.4f} ({result.best_params}); after confirm {picked_acc:.4f} ({confirmed.best_params})")
    # CPU time of the one thread: what the search costs on an idle core, whatever else the
    # machine runs at the time (wall time is printed too)
    assert cpu < 180
    assert len(confirmed.trials) == len(result.trials)  # the second call ran no new trial
    assert picked_acc >= default_acc
