"""``trainwell tune`` and ``trainwell lr-find`` on a CSV file."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from trainwell.cli.tune import add_parser, add_parser_lr_find
from trainwell.exceptions import ConfigError, DataError


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trainwell")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    add_parser_lr_find(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def iris_csv(tmp_path, iris):
    X, y = iris
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    frame["species"] = pd.Series(y).map({0: "setosa", 1: "versicolor", 2: "virginica"})
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    return path


def test_tune_command_writes_a_run_folder(iris_csv, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "tune", str(iris_csv), "--target", "species", "--trials", "4", "--stage1-epochs", "2", "--stage2-epochs", "3",
        "--space", "lr=1e-3:1e-1:log", "--space", "hidden=8|16", "--hidden", "8", "--out", str(out), "--quiet",
    ]
    assert _run(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and metrics["n_test"] == 30
    search = json.loads((out / "search.json").read_text())
    assert set(search["best_params"]) == {"lr", "hidden"}
    assert search["best_params"]["hidden"] in ([8], [16])
    assert (out / "report.html").exists() and (out / "model" / "model.json").exists()
    trials = pd.read_csv(out / "trials.csv")
    assert list(trials["stage"]).count("lr") == 1 and list(trials["stage"]).count("refine") == 3
    # the same command again resumes: nothing left to run, same answer
    assert _run(argv) == 0
    assert json.loads((out / "search.json").read_text())["best_score"] == search["best_score"]
    assert len(pd.read_csv(out / "trials.csv")) == 4


def test_tune_command_bad_space(iris_csv, tmp_path):
    with pytest.raises(ConfigError, match="--space"):
        _run(["tune", str(iris_csv), "--target", "species", "--space", "lr=1e-5:fast", "--out", str(tmp_path / "r")])


def test_tune_command_bad_target(iris_csv, tmp_path):
    with pytest.raises(DataError, match="not in the data"):
        _run(["tune", str(iris_csv), "--target", "kind", "--out", str(tmp_path / "r")])


def test_lr_find_command(iris_csv, tmp_path, capsys):
    plot = tmp_path / "lr.png"
    assert _run(["lr-find", str(iris_csv), "--target", "species", "--steps", "60", "--repeats", "1",
                 "--hidden", "16", "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(("Suggested learning rate", "No clear answer"))
    assert plot.exists()
