"""The ``trainwell check`` subcommand, through argparse as the CLI wires it."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from trainwell.cli.check import add_parser
from trainwell.diagnose import Finding
from trainwell.diagnose.findings import format_findings
from trainwell.exceptions import DataError


def parse(argv):
    parser = argparse.ArgumentParser(prog="trainwell")
    add_parser(parser.add_subparsers())
    return parser.parse_args(argv)


@pytest.fixture
def iris_csv(tmp_path, iris):
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(species=y)
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_check_command_prints_ranked_findings(iris_csv, capsys):
    args = parse(["check", iris_csv, "--target", "species", "--max-epochs", "5"])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "classification" in captured.err  # the header is progress, on stderr
    assert "init_loss_ok" in captured.out and "overfit_small_batch_ok" in captured.out


def test_check_command_json_is_one_object_on_stdout(iris_csv, capsys):
    import json

    args = parse(["check", iris_csv, "--target", "species", "--max-epochs", "5", "--json", "--min-severity", "warning"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "classification" and result["n_train"] > 100
    assert all(set(f) >= {"code", "severity", "message", "advice"} for f in result["findings"])
    assert all(f["severity"] != "info" for f in result["findings"])


def test_check_command_with_a_test_file_that_copies_training_rows(iris_csv, tmp_path, capsys):
    args = parse(["check", iris_csv, "--target", "species", "--test", iris_csv, "--min-severity", "warning"])
    args.func(args)
    out = capsys.readouterr().out
    assert "train_test_overlap" in out and "init_loss_ok" not in out


def test_check_command_bad_target(iris_csv):
    args = parse(["check", iris_csv, "--target", "nope"])
    with pytest.raises(DataError, match="nope"):
        args.func(args)


def test_format_findings_ranks_and_filters():
    found = [Finding("a", "info", "fine."), Finding("b", "error", "broken.", "fix it.")]
    text = format_findings(found)
    assert text.index("b: broken.") < text.index("a: fine.") and "Try: fix it." in text
    assert "a: fine." not in format_findings(found, "warning")
