"""The comparison's HTML report: built from real comparisons, read back as HTML, PNG and in Chromium."""

from __future__ import annotations

import argparse
import base64
import html
import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

from _chromium import needs_chromium, render
from trainwell import NeuralNetClassifier
from trainwell.cli.compare import add_parser
from trainwell.compare import compare, plot_scores
from trainwell.exceptions import ConfigError
from trainwell.report.plots import to_png

IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)"')


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def three_models(iris):
    """Three cheap models on 5 folds: 5 pairs can never reach p < 0.05, so the tests warn."""
    X, y = iris
    models = {"logistic": LogisticRegression(max_iter=1000), "tree": DecisionTreeClassifier(), "dummy": DummyClassifier()}
    return compare(models, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))


def _images(page: str) -> list[tuple[bytes, int, int]]:
    return [(base64.b64decode(data), int(w), int(h)) for data, w, h in IMG.findall(page)]


def _section(page: str, key: str) -> str:
    start = page.index(f'<section id="{key}"')
    return page[start:page.index("</section>", start)]


def test_report_holds_verdict_table_every_test_and_the_paired_plot(three_models, tmp_path):
    result = three_models
    path = result.report(tmp_path / "cmp")
    assert path == tmp_path / "cmp" / "report.html"
    page = path.read_text(encoding="utf-8")

    # The one image is exactly the paired per-fold plot (a line per fold), embedded.
    images = _images(page)
    assert len(images) == 1
    png, width, height = images[0]
    assert png == to_png(plot_scores(result))
    image = Image.open(io.BytesIO(png))
    assert image.size == (width, height) and np.asarray(image.convert("L")).std() > 10
    assert "<script" not in page and 'src="http' not in page and "<link rel=\"stylesheet" not in page

    # The verdict, line by line, and every warning of the tests.
    verdict = _section(page, "verdict")
    for line in result.verdict.splitlines():
        assert html.escape(line, quote=True) in verdict
    assert result.warnings and all(html.escape(w, quote=True) in verdict for w in result.warnings)
    assert any("can never reach p < 0.05" in w for w in result.verdict.splitlines())

    # The per-model table: mean and standard deviation of each model's five fold scores.
    table = _section(page, "scores")
    for name in ("logistic", "tree", "dummy"):
        row = re.search(rf"<td>{name}</td><td>([0-9.]+)</td><td>([0-9.]+)</td>", table)
        assert row is not None, name
        assert float(row.group(1)) == pytest.approx(result.scores[name].mean(), abs=5e-5)
        assert float(row.group(2)) == pytest.approx(result.scores[name].std(ddof=1), abs=5e-5)
    assert '<tr class=best><td>logistic</td>' in table

    # One card per pair with its test, Holm-adjusted.
    for i, test in enumerate(result.tests):
        card = _section(page, f"pair-{i}")
        a, b = test.names
        assert f"<h2>{a} vs {b}</h2>" in card
        assert html.escape(test.verdict, quote=True) in card
        assert f"{test.mean_difference:+.4f}" in card
        assert "Holm-adjusted for 3 comparisons" in card
        assert f"{test.n_a_better} / {test.n_b_better} / {test.n_ties}" in card

    # The per-fold scores themselves.
    folds = _section(page, "folds")
    assert len(re.findall(r"<tr><td>\d+</td>", folds)) == 5
    assert f"<td>{result.scores.loc[2, 'tree']:.4f}</td>" in folds


def test_single_split_report_shows_mcnemars_table(iris, tmp_path):
    X, y = iris
    result = compare({"logistic": LogisticRegression(max_iter=1000), "dummy": DummyClassifier()}, X, y, single=True)
    page = result.report(tmp_path / "single.html").read_text(encoding="utf-8")
    (both, a_only), (b_only, neither) = result.tests[0].table
    assert f"{both} / {a_only} / {b_only} / {neither}" in page
    assert "Every pair's test (McNemar)" in page and len(_images(page)) == 1
    assert html.escape(result.tests[0].verdict, quote=True) in page


def test_report_path_rules(three_models, tmp_path):
    assert three_models.report(tmp_path / "a" / "b.html") == tmp_path / "a" / "b.html"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        three_models.report(blocker)
    with pytest.raises(ConfigError, match="is a file"):
        three_models.report(blocker / "r.html")


def test_cli_out_writes_the_report_and_the_scores(tmp_path, capsys):
    X, y = load_iris(return_X_y=True, as_frame=True)
    csv = tmp_path / "iris.csv"
    X.assign(species=np.array(["setosa", "versicolor", "virginica"])[y]).to_csv(csv, index=False)
    parser = argparse.ArgumentParser(prog="trainwell")
    add_parser(parser.add_subparsers())
    out = tmp_path / "runs" / "cmp"
    args = parser.parse_args(["compare", str(csv), "--target", "species", "--model", "logistic", "--model", "base=dummy",
                              "--folds", "3", "--repeats", "1", "--out", str(out)])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert f"report: {out / 'report.html'}" in err
    scores = pd.read_csv(out / "scores.csv", index_col=0)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert scores.shape == (3, 2) and "trainwell comparison: logistic vs base on iris.csv" in page
    assert f"<td>{scores.loc[1, 'logistic']:.4f}</td>" in _section(page, "folds")
    args = parser.parse_args(["compare", str(csv), "--target", "species", "--out", str(csv)])
    with pytest.raises(ConfigError, match="is a file"):
        args.func(args)


def test_tune_confirm_report_has_the_paired_plot(iris, tmp_path):
    from trainwell.tune import tune
    from trainwell.tune.report import _png

    X, y = iris
    net = NeuralNetClassifier(hidden=(16,), batch_size=32, max_epochs=5, random_state=0, diagnostics=False)
    space = {"lr": (1e-3, 1e-1, "log"), "l2": (1e-6, 1e-2, "log")}
    result = tune(net, X, y, space=space, n_trials=3, stage1_epochs=2, stage2_epochs=3, confirm=2, cv=2, out=tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = page[page.index("<h2>Confirmation on repeated folds</h2>"):page.index("<h2>Trials</h2>")]
    assert html.escape(str(result.confirmation)) in section
    assert _png(plot_scores(result.confirmation)) in section


@needs_chromium
def test_report_renders_in_headless_chromium(three_models, tmp_path):
    shown = render(three_models.to_html(), tmp_path, height=1400)
    assert shown.other_console == []
    assert shown.images_loaded == shown.images_total == 1, shown.stderr[-2000:]
    image = shown.screenshot
    assert image.shape == (1400, 1280, 3) and image.std() > 20
    assert np.abs(image[20, 20] - [0x1D, 0x23, 0x30]).max() < 8  # the report's header band
