"""The command line: fit, predict, info, demo, and one-sentence errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from trainwell.cli import main


@pytest.fixture()
def iris_csv(tmp_path):
    data = load_iris(as_frame=True)
    frame = data.frame.copy()
    frame["species"] = np.array(data.target_names)[data.target]
    frame = frame.drop(columns=["target"])
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    return path


def test_fit_predict_info(tmp_path, iris_csv, capsys):
    out = tmp_path / "run"
    assert main(["fit", str(iris_csv), "--target", "species", "--out", str(out), "--max-epochs", "30", "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "diagnostics.json", "evaluation.json", "history.csv", "metrics.json", "model", "report.html",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8 and metrics["n_test"] == 30
    history = pd.read_csv(out / "history.csv")
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(history.columns)
    config = json.loads((out / "config.json").read_text())
    assert config["params"]["max_epochs"] == 30 and config["task"] == "classification"
    assert config["params"]["bf16"] is False and config["params"]["cuda_graphs"] is True

    capsys.readouterr()
    assert main(["predict", str(out), str(iris_csv), "--proba"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("prediction,proba_setosa")
    assert len(lines) == 151
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "NeuralNetClassifier" in info
    assert "classes: ['setosa', 'versicolor', 'virginica']" in info
    assert "\nspeed: " in info  # the step profile from diagnostics.json (measured, or why not)
    recorded = json.loads((out / "diagnostics.json").read_text())["findings"]
    for f in recorded:  # the findings are in the text output too, not only in --json
        assert f"{f['severity']} {f['code']}: {f['message']}" in info


def test_gpu_flags_reach_the_estimator(tmp_path, iris_csv, monkeypatch, capsys):
    # config.json only echoes the constructor's parameters; what reaches the estimator is the
    # configuration its training loop ran with (train_config_), so that is what is checked here.
    from trainwell import estimators

    fitted = []
    real_fit = estimators.NeuralNetClassifier.fit

    def spy(self, X, y, **kwargs):
        fitted.append(self)
        return real_fit(self, X, y, **kwargs)

    monkeypatch.setattr(estimators.NeuralNetClassifier, "fit", spy)
    out = tmp_path / "run"
    assert main(["fit", str(iris_csv), "--target", "species", "--out", str(out), "--max-epochs", "2", "--no-report",
                 "--bf16", "--no-cuda-graphs"]) == 0
    (est,) = fitted
    assert est.train_config_.cuda_graphs is False
    # bf16 trains where the device has native bf16 instructions; elsewhere the user is told it was ignored
    assert est.train_config_.bf16 or "bf16=True is ignored" in capsys.readouterr().err
    params = json.loads((out / "config.json").read_text())["params"]
    assert params["bf16"] is True and params["cuda_graphs"] is False


def test_regression_is_inferred_for_continuous_targets(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["y"] = 3 * frame["a"] - frame["b"] + 0.1 * rng.normal(size=200)
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert main(["fit", str(tmp_path / "d.csv"), "--target", "y", "--out", str(tmp_path / "r"), "--quiet", "--max-epochs", "60"]) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["r2"] > 0.8


@pytest.mark.parametrize(
    ("content", "args", "match"),
    [
        ("", [], "is empty"),
        ("a,b,label\n", [], "no data rows"),
        ("a,b,label\n1,2,x\n3,4,y,9\n", [], "well-formed"),
        ("a,b,label\n1,2,x\n3,4,y\n", ["--target", "nope"], "not in the data"),
        ("a,b,label\n1,2,x\n3,4,x\n5,6,x\n7,8,x\n", [], "one value only"),
        ("a,b,label\n1,inf,x\n3,4,y\n5,6,x\n7,8,y\n5,6,x\n7,8,y\n", [], "infinite"),  # an empty cell is filled
    ],
)
def test_bad_csv_exit_2_one_sentence_nothing_written(tmp_path, capsys, content, args, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    argv = ["fit", str(path), "--target", "label", "--out", str(tmp_path / "out"), "--quiet"]
    if args:
        argv[3] = args[1]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.csv"]


def test_non_utf8_file(tmp_path, capsys):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,label\n1,caf\xe9\n".encode("latin-1"))
    assert main(["fit", str(path), "--target", "label", "--out", str(tmp_path / "o")]) == 2
    assert "UTF-8" in capsys.readouterr().err


def test_out_is_a_file(tmp_path, iris_csv, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["fit", str(iris_csv), "--target", "species", "--out", str(tmp_path / "f"), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_predict_on_missing_run(tmp_path, iris_csv, capsys):
    assert main(["predict", str(tmp_path / "nope"), str(iris_csv)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "trainwell", "--debug", "predict", str(tmp_path / "nope"), str(tmp_path / "x.csv")],
        capture_output=True, text=True,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_help_for_every_command():
    for command in ("demo", "fit", "predict", "info"):
        proc = subprocess.run([sys.executable, "-m", "trainwell", command, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "usage" in proc.stdout


@pytest.fixture
def npy_task(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    paths = {}
    for name, arr in {"X": X[:300], "y": y[:300], "Xt": X[300:], "yt": y[300:]}.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr)
    return paths


def test_fit_on_npy_files_trains_the_mapped_array_in_place(tmp_path, npy_task, monkeypatch, capsys):
    from trainwell import estimators
    from trainwell.data.mapped import is_memory_mapped

    seen = []
    real_fit = estimators.NeuralNetClassifier.fit

    def spy(self, X, y, **kwargs):
        seen.append(is_memory_mapped(X))
        return real_fit(self, X, y, **kwargs)

    monkeypatch.setattr(estimators.NeuralNetClassifier, "fit", spy)
    out = tmp_path / "run"
    p = npy_task
    assert main(["fit", str(p["X"]), "--labels", str(p["y"]), "--test", str(p["Xt"]), "--test-labels", str(p["yt"]),
                 "--out", str(out), "--max-epochs", "20", "--quiet", "--no-report"]) == 0
    assert seen == [True]  # the training rows were never copied out of the file
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_test"] == 100 and metrics["accuracy"] > 0.85
    assert json.loads((out / "config.json").read_text())["task"] == "classification"
    capsys.readouterr()
    assert main(["predict", str(out), str(p["Xt"]), "--proba"]) == 0  # a .npy file predicted too
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "prediction,proba_0,proba_1" and len(lines) == 101
    # without --test the test rows are split off (and the parts copied into memory)
    assert main(["fit", str(p["X"]), "--labels", str(p["y"]), "--out", str(tmp_path / "split"), "--max-epochs", "5",
                 "--quiet", "--no-report"]) == 0
    assert json.loads((tmp_path / "split" / "metrics.json").read_text())["n_test"] == 60


@pytest.mark.parametrize("extra, message", [
    ([], "--labels is required"),
    (["--labels", "{yt}"], "has 300 rows but --labels"),
    (["--labels", "{y}", "--test", "{Xt}"], "--test and --test-labels go together"),
    (["--labels", "{y}", "--test", "{X}", "--test-labels", "{yt}"], "must hold rows shaped like"),
    (["--labels", "{missing}"], "does not exist"),
])
def test_bad_npy_input_is_one_sentence(tmp_path, npy_task, capsys, extra, message):
    names = {k: str(v) for k, v in npy_task.items()} | {"missing": str(tmp_path / "nope.npy")}
    argv = ["fit", names["X"], *[a.format(**names) for a in extra], "--out", str(tmp_path / "r"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
