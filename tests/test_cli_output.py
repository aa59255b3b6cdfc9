"""The command line's output and failure behaviour (issue 21, items 1, 3, 4 and 10).

Results on stdout and progress on stderr, ``--json``; many rare classes scored instead of
crashing, and a failure after training leaving no checkpoint that traps the next run; a
closed stdout (``| head``) ending quietly; ``--debug`` after the command; ``--overwrite``;
predict's notes about ignored columns and unseen categories.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_digits, load_iris

from trainwell.cli import main
from trainwell.cli.main import EXIT_BROKEN_PIPE, build_parser

FAST = ["--max-epochs", "3", "--no-report"]


@pytest.fixture()
def iris_csv(tmp_path):
    data = load_iris(as_frame=True)
    frame = data.frame.drop(columns=["target"]).assign(species=np.array(data.target_names)[data.target])
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture()
def many_classes_csv(tmp_path):
    """Real digit images with 500 synthetic classes of 3 rows each: some classes reach only the test split."""
    X = load_digits().data[:1500]
    labels = np.repeat([f"c{i}" for i in range(500)], 3)
    np.random.default_rng(0).shuffle(labels)
    frame = pd.DataFrame(X, columns=[f"p{i}" for i in range(64)]).assign(label=labels)
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------- item 1: many classes
class _Proba:
    """A fitted classifier stand-in: fixed classes and probabilities."""

    def __init__(self, classes, proba):
        self.classes_ = np.asarray(classes)
        self._proba = np.asarray(proba)

    def predict_proba(self, X):
        return self._proba


def test_test_metrics_score_classes_the_model_never_saw_without_warnings():
    from trainwell.report.inputs import test_metrics

    rng = np.random.default_rng(0)
    proba = rng.random((8, 3)).astype(np.float32)
    proba /= proba.sum(1, keepdims=True)
    y = np.array(["a", "b", "c", "a", "z", "b", "y", "c"])  # y and z: only in the test rows
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no scikit-learn warning may leak
        scores, evaluation = test_metrics(_Proba(["a", "b", "c"], proba), None, y)
    pred = np.array(["a", "b", "c"])[proba.argmax(1)]
    known = np.isin(y, ["a", "b", "c"])
    assert scores["n_test"] == 8 and scores["n_test_unseen_class"] == 2
    assert scores["accuracy"] == pytest.approx(np.mean(pred == y))  # the unseen rows are errors
    recalls = [np.mean(pred[y == c] == c) for c in np.unique(y)]  # over the labels that occur
    assert scores["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    assert scores["log_loss"] == pytest.approx(skm.log_loss(y[known], proba[known], labels=["a", "b", "c"]), rel=1e-5)
    assert evaluation["labels"] == ["a", "b", "c", "y", "z"]
    confusion = np.array(evaluation["confusion"])
    assert confusion.shape == (5, 5) and confusion.sum() == 8 and confusion[3:, :].sum() == 2


def test_test_metrics_match_scikit_learn_when_every_class_is_known():
    from trainwell.report.inputs import test_metrics

    rng = np.random.default_rng(1)
    proba = rng.random((60, 4))
    proba /= proba.sum(1, keepdims=True)
    classes = np.array([3, 5, 7, 9])
    y = classes[rng.integers(0, 4, 60)]
    scores, evaluation = test_metrics(_Proba(classes, proba), None, y)
    pred = classes[proba.argmax(1)]
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert scores["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert scores["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=classes))
    assert "n_test_unseen_class" not in scores  # metrics.json keeps its usual keys
    assert evaluation["confusion"] == skm.confusion_matrix(y, pred, labels=classes).tolist()


def test_fit_with_many_rare_classes_writes_a_run_and_one_note(tmp_path, many_classes_csv, capsys):
    out = tmp_path / "mc"
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        code = main(["fit", str(many_classes_csv), "--target", "label", "--out", str(out), *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    assert [str(w.message) for w in leaked] == []
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_test"] == 300 and metrics["n_test_unseen_class"] > 0
    assert not (out / "checkpoint").exists()
    notes = [line for line in captured.err.splitlines() if "never saw" in line]
    assert len(notes) == 1 and f"{metrics['n_test_unseen_class']} of 300 test rows" in notes[0]
    assert "Warning" not in captured.err and "labels" not in captured.err


def test_a_failure_after_training_leaves_no_trap(tmp_path, iris_csv, monkeypatch, capsys):
    from trainwell.report import runfolder

    def broken(*args, **kwargs):
        raise RuntimeError("scoring broke")

    out = tmp_path / "run"
    args = ["fit", str(iris_csv), "--target", "species", "--out", str(out), "--quiet", *FAST]
    monkeypatch.setattr(runfolder, "test_metrics", broken)
    assert main(args) == 1  # ours, not the user's input
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: scoring broke" in err and "--debug" in err
    assert not out.exists()  # nothing: no checkpoint that makes the next run ask for --resume
    monkeypatch.undo()
    assert main(args) == 0
    earlier = (out / "metrics.json").read_text()
    # replacing an earlier run: that run stays as it was, and no checkpoint is left inside it
    monkeypatch.setattr(runfolder, "test_metrics", broken)
    assert main([*args, "--overwrite", "--seed", "1"]) == 1
    assert (out / "metrics.json").read_text() == earlier
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "history.csv", "metrics.json", "model"]


@pytest.mark.parametrize("checkpointed", [False, True])
def test_an_interrupted_fit_says_what_it_left(tmp_path, iris_csv, monkeypatch, capsys, checkpointed):
    from trainwell import estimators

    out = tmp_path / "run"

    def interrupted(self, X, y, **kwargs):
        if checkpointed:  # as the checkpoint callback leaves it after an epoch
            (out / "checkpoint").mkdir(parents=True)
            (out / "checkpoint" / "state.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(estimators.NeuralNetClassifier, "fit", interrupted)
    assert main(["fit", str(iris_csv), "--target", "species", "--out", str(out), "--quiet", *FAST]) == 130
    err = capsys.readouterr().err
    if checkpointed:
        assert "run the same command with --resume to continue" in err and "nothing was written" not in err
    else:
        assert "nothing was written" in err and "--resume" not in err


def test_rare_classes_are_a_data_check():
    from trainwell.diagnose.datachecks import rare_classes

    (finding,) = rare_classes(np.repeat(np.arange(100), 3))
    assert finding.code == "rare_classes" and finding.severity == "warning"
    assert "100 of 100 classes have fewer than 5 rows" in finding.message
    assert rare_classes(np.repeat(np.arange(10), 5)) == []
    (one,) = rare_classes(np.concatenate([np.repeat(np.arange(20), 30), [99, 99]]))
    assert one.severity == "info"  # one odd class among many: information


def test_check_warns_about_many_rare_classes():
    from trainwell import NeuralNetClassifier
    from trainwell.diagnose import check

    X = load_digits().data[:120]
    y = np.repeat(np.arange(40), 3)
    findings = check(NeuralNetClassifier(max_epochs=2), X, y, overfit_size=20, overfit_epochs=2)
    assert any(f.code == "rare_classes" and f.severity == "warning" for f in findings)


# ---------------------------------------------------------------- item 3: | head, --debug
def test_a_closed_stdout_ends_predict_quietly(tmp_path, iris_csv):
    run = tmp_path / "run"
    assert main(["fit", str(iris_csv), "--target", "species", "--out", str(run), "--quiet", *FAST]) == 0
    big = tmp_path / "big.csv"
    frame = pd.read_csv(iris_csv)
    pd.concat([frame] * 40, ignore_index=True).to_csv(big, index=False)  # 6,000 rows: more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "trainwell", "predict", str(run), str(big), "--proba"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"prediction")
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == EXIT_BROKEN_PIPE
    assert "Traceback" not in err and "BrokenPipe" not in err and "error" not in err.lower(), err


@pytest.mark.parametrize(("argv", "debug"), [
    (["predict", "r", "d.csv", "--debug"], True),
    (["--debug", "predict", "r", "d.csv"], True),
    (["predict", "r", "d.csv"], False),
    (["fit", "d.csv", "--target", "y", "--out", "o", "--debug"], True),
])
def test_debug_is_accepted_after_the_command(argv, debug):
    assert build_parser().parse_args(argv).debug is debug


def test_an_internal_error_is_short_exit_1_and_says_how_to_see_more(monkeypatch, capsys, tmp_path):
    from trainwell.cli import info

    def broken(args):
        raise ValueError("y contains values not belonging to the passed labels " + "['c1' 'c2'] " * 500)

    monkeypatch.setattr(info, "run_info", lambda *a: broken(None))
    assert main(["info", str(tmp_path)]) == 1  # a bare ValueError is ours, not the user's input
    err = capsys.readouterr().err.strip()
    assert err.startswith("internal error: ValueError") and len(err) < 500 and "\n" not in err
    assert "trainwell info ... --debug" in err


# ---------------------------------------------------------------- item 4: stdout and stderr, --json
def test_fit_results_go_to_stdout_and_progress_to_stderr(tmp_path, iris_csv, capsys):
    assert main(["fit", str(iris_csv), "--target", "species", "--out", str(tmp_path / "r"), *FAST]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("test: accuracy") and f"run folder: {tmp_path / 'r'}" in out
    assert "what trainwell noticed" in out
    assert "train_loss" in err and "trainwell" in err  # the header and the epoch table
    assert "test:" not in err and "run folder" not in err and "train_loss" not in out


def test_fit_json_is_one_object_on_stdout(tmp_path, iris_csv, capsys):
    assert main(["fit", str(iris_csv), "--target", "species", "--out", str(tmp_path / "r"), "--json",
                 "--max-epochs", "3"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)  # the whole of stdout is one JSON object
    assert result["run_folder"] == str(tmp_path / "r") and result["task"] == "classification"
    assert result["report"] == str(tmp_path / "r" / "report.html")
    assert result["metrics"] == json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert all(set(f) == {"code", "severity", "message", "advice"} for f in result["findings"])
    assert "train_loss" in err  # progress still on stderr
    # --quiet silences the progress, not the object asked for
    assert main(["fit", str(iris_csv), "--target", "species", "--out", str(tmp_path / "q"), "--json", "--quiet",
                 *FAST]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["report"] is None and err == ""


def test_info_and_predict_json(tmp_path, iris_csv, capsys):
    run = tmp_path / "r"
    assert main(["fit", str(iris_csv), "--target", "species", "--out", str(run), "--quiet", "--max-epochs", "3"]) == 0
    capsys.readouterr()
    assert main(["info", str(run), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["classes"] == ["setosa", "versicolor", "virginica"] and info["metrics"]["n_test"] == 30
    assert info["estimator"] == "NeuralNetClassifier" and info["findings"]
    assert set(info["findings"][0]) == {"code", "severity", "message", "advice"}
    assert main(["predict", str(run), str(iris_csv), "--json", "--proba"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 150 and rows[0]["prediction"] in info["classes"]
    assert set(rows[0]["proba"]) == set(info["classes"]) and sum(rows[0]["proba"].values()) == pytest.approx(1, abs=1e-5)


# ---------------------------------------------------------------- item 10: --overwrite, predict's notes
def test_fit_refuses_to_overwrite_a_run_without_overwrite(tmp_path, iris_csv, capsys):
    out = tmp_path / "x"
    args = ["fit", str(iris_csv), "--target", "species", "--out", str(out), "--quiet", *FAST]
    assert main(args) == 0
    before = (out / "config.json").read_text()
    capsys.readouterr()
    assert main([*args, "--seed", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {out} already holds a run; pass --overwrite to replace it or choose another --out."
    assert (out / "config.json").read_text() == before
    assert main([*args, "--seed", "3", "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["seed"] == 3


def test_an_interrupted_run_keeps_its_resume_path_and_overwrite_starts_over(tmp_path, iris_csv, capsys):
    out = tmp_path / "x"
    (out / "checkpoint").mkdir(parents=True)  # what a killed run leaves
    args = ["fit", str(iris_csv), "--target", "species", "--out", str(out), "--quiet", *FAST]
    assert main(args) == 2
    assert "add --resume to continue it, or pass --overwrite to start over" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert (out / "config.json").is_file() and not (out / "checkpoint").exists()


def test_demo_replaces_its_own_default_folder_only(monkeypatch, tmp_path):
    from trainwell import data
    from trainwell.cli import demo

    calls = []
    monkeypatch.setattr(data, "load_mnist5k", lambda images: (np.zeros((10, 28, 28)), np.zeros(10)))
    monkeypatch.setattr(demo, "run_fit", lambda *a, **kw: calls.append(kw))
    assert main(["demo", "--max-epochs", "1"]) == 0
    assert main(["demo", "--out", str(tmp_path / "d")]) == 0
    assert main(["demo", "--out", str(tmp_path / "d"), "--overwrite", "--json"]) == 0
    assert [c["overwrite"] for c in calls] == [True, False, True] and calls[2]["as_json"] is True


def test_predict_notes_ignored_columns_and_unseen_categories_once(tmp_path, capsys):
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(size=80), "colour": ["red", "blue"] * 40, "y": ["p", "q"] * 40})
    train.to_csv(tmp_path / "train.csv", index=False)
    assert main(["fit", str(tmp_path / "train.csv"), "--target", "y", "--out", str(tmp_path / "r"), "--quiet",
                 *FAST]) == 0
    new = pd.DataFrame({"a": [0.1, 0.2, 0.3], "colour": ["red", "green", "green"], "y": ["p", "q", "p"],
                        "notes": ["x", "y", "z"]})
    new.to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "r"), str(tmp_path / "new.csv")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "prediction" and len(out.splitlines()) == 4  # stdout: the predictions only
    lines = err.strip().splitlines()
    assert lines == [
        "note: ignored 2 columns the model was not trained on: y, notes.",
        "note: categories the model never saw in training, encoded as all zeros, in 'colour' (2 rows, e.g. 'green').",
    ]


def test_info_text_says_how_many_classes_it_left_out_and_lists_the_findings(monkeypatch, capsys):
    import argparse

    from trainwell.cli import info as info_cmd

    record = {"estimator": "NeuralNetClassifier", "kind": "mlp", "epochs": 9, "best_epoch": 7, "stop_reason": "early stopping",
              "input_shape": [4], "hidden": [8], "n_outputs": 55, "activation": "relu", "init": "auto",
              "batchnorm": True, "dropout": 0.0, "parameters": 100,
              "input_preparation": {"scaling": "feature", "missing_filled": [], "piecewise_columns": [],
                                    "piecewise_inputs": 0},
              "classes": [f"c{i}" for i in range(55)], "metrics": None, "speed": [], "onnx": None,
              "findings": [{"code": "class_imbalance", "severity": "warning", "message": "Rare classes.", "advice": ""}]}
    monkeypatch.setattr(info_cmd, "run_info", lambda run_dir: record)
    assert info_cmd.cmd_info(argparse.Namespace(run_dir="x", json=False)) == 0
    out = capsys.readouterr().out
    assert "'c19'] … and 35 more (55 in all; --json lists every one)" in out and "'c20'" not in out
    assert "warning class_imbalance: Rare classes." in out


def test_a_test_score_no_better_than_learning_nothing_gets_a_note(tmp_path):
    from types import SimpleNamespace

    from rich.console import Console

    from trainwell.cli.output import print_outcome, trivial_baseline_note

    clf = SimpleNamespace(class_counts_=[54, 46], findings_=[], n_iter_=5, best_epoch_=3, run_=None)
    # unseen tables: la_riots at 38.5 % against a 54 % majority, ccard at R² -0.089, both with no remark
    assert "no better than always answering the most common training class (54.0%" in trivial_baseline_note(
        clf, {"accuracy": 0.385})
    assert trivial_baseline_note(clf, {"accuracy": 0.8}) is None
    reg = SimpleNamespace(findings_=[], n_iter_=5, best_epoch_=3, run_=None)
    assert "R² is -0.089, below 0" in trivial_baseline_note(reg, {"r2": -0.089})
    assert trivial_baseline_note(reg, {"r2": 0.3}) is None
    console = Console(record=True, width=200)
    print_outcome(console, reg, {"r2": -0.089, "fit_seconds": 1.0}, tmp_path)
    assert "note: the test R² is -0.089" in console.export_text()
