"""The HTML report: its inputs, its content, its cost, and how a real browser renders it."""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_diabetes, load_iris
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split

from _chromium import needs_chromium, render
from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.cli import report as report_cli
from trainwell.diagnose.findings import SEVERITY_RANK
from trainwell.exceptions import DataError
from trainwell.report import build_report, save_run, write_report_inputs
from trainwell.report.html import EVIDENCE, NO_MONITORS
from trainwell.report.plots import _mosaic, _resample_hist
from trainwell.report.record import load_run

IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)"')


@pytest.fixture(scope="module")
def iris_split():
    frame = load_iris(as_frame=True).frame
    X = frame.drop(columns="target")
    y = np.array(["setosa", "versicolor", "virginica"])[frame["target"]]
    return train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def sigmoid_run(iris_split, tmp_path_factory):
    """A real 15-epoch run with every monitor attached, and a setting the advice always flags."""
    X_train, X_test, y_train, y_test = iris_split
    est = NeuralNetClassifier(activation="sigmoid", lr=3e-3, lr_schedule="cosine", max_epochs=15, random_state=0).fit(X_train, y_train)
    run_dir = tmp_path_factory.mktemp("runs") / "iris"
    report = save_run(est, run_dir, X_test, y_test, source="iris (sklearn)")
    return est, run_dir, report, X_test, y_test


def _images(page: str) -> list[tuple[Image.Image, int, int]]:
    out = []
    for data, width, height in IMG.findall(page):
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()
        out.append((image, int(width), int(height)))
    return out


def _section(page: str, key: str) -> str:
    start = page.index(f'<section id="{key}"')
    return page[start:page.index("</section>", start)]


# ------------------------------------------------------------------ content
def test_report_shows_every_plot_as_an_embedded_png(sigmoid_run):
    _, run_dir, report, _, _ = sigmoid_run
    page = report.read_text(encoding="utf-8")
    assert report == run_dir / "report.html"
    images = _images(page)
    # loss, accuracy, lr, update ratio, grad/weight size, activations, gradients, first layer; no saturated
    # units is a sentence, not a flat line (test_report_layout.py)
    assert len(images) == 8
    for image, width, height in images:
        assert image.format == "PNG" and image.size == (width, height)
        assert np.asarray(image.convert("L")).std() > 5  # something is drawn on it
    assert "<script" not in page and "http://" not in page and "https://" not in page  # opens offline
    assert html.escape(NO_MONITORS) not in page


def test_findings_are_ranked_and_sit_beside_their_evidence(sigmoid_run):
    est, run_dir, _, _, _ = sigmoid_run
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    findings = json.loads((run_dir / "diagnostics.json").read_text())["findings"]
    codes = [f["code"] for f in findings]
    assert "sigmoid_hidden_activation" in codes
    ranks = [SEVERITY_RANK[f["severity"]] for f in findings]
    assert ranks == sorted(ranks)
    summary = _section(page, "findings")
    positions = [summary.index(f"<code>{code}</code>") for code in codes]
    assert positions == sorted(positions)  # listed in rank order
    for f in findings:
        assert html.escape(f["message"]) in page
        key = EVIDENCE.get(f["code"])
        if key:
            assert f"<code>{f['code']}</code>" in _section(page, key)
    assert "sigmoid_hidden_activation" in _section(page, "activations")


def test_configuration_data_summary_and_versions_are_in_the_text(sigmoid_run, iris_split):
    est, run_dir, _, _, y_test = sigmoid_run
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    config = json.loads((run_dir / "config.json").read_text())
    shown = re.search(r"<summary>config.json</summary><pre>(.*?)</pre>", page, re.S).group(1)
    assert json.loads(html.unescape(shown)) == config
    assert config["params"]["lr"] == 3e-3 and config["params"]["activation"] == "sigmoid"
    data = _section(page, "data")
    assert f"<td>{est.n_train_}</td>" in data and f"<td>{est.n_val_}</td>" in data
    assert f"<td>{len(y_test)}</td>" in data and "<td>150</td>" in data  # all of iris's rows
    assert "3: setosa, versicolor, virginica" in data
    import torch

    assert torch.__version__ in _section(page, "environment")


def test_saved_inputs_match_the_estimator(sigmoid_run):
    est, run_dir, _, X_test, y_test = sigmoid_run
    diagnostics = json.loads((run_dir / "diagnostics.json").read_text())
    for name, info in diagnostics["layers"].items():
        for key, series in info["series"].items():
            expected = [row["layers"].get(name, {}).get(key) for row in est.history_]
            np.testing.assert_allclose(np.array(series, dtype=float), np.array(expected, dtype=float), equal_nan=True)
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    oracle = confusion_matrix(y_test, est.predict(X_test), labels=est.classes_)
    assert evaluation["confusion"] == oracle.tolist()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(np.trace(oracle) / oracle.sum())
    # the page's confusion table shows the same counts
    table = _section((run_dir / "report.html").read_text(encoding="utf-8"), "test")
    rows = re.findall(r"<tr><th>([^<]*)</th>(.*?)</tr>", table)[1:]  # below the header row
    assert [label for label, _ in rows] == list(est.classes_)
    shown = [[int(v) if v else 0 for v in re.findall(r"<td[^>]*>(\d*)</td>", cells)][:-1] for _, cells in rows]
    assert shown == oracle.tolist()


def test_regression_report_plots_predicted_against_true(tmp_path):
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    est = NeuralNetRegressor(max_epochs=8, random_state=0, diagnostics=False).fit(X_train, y_train)
    report = save_run(est, tmp_path / "run", X_test, y_test)
    page = report.read_text(encoding="utf-8")
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    np.testing.assert_allclose(np.ravel(evaluation["y_pred"]), est.predict(X_test), rtol=1e-6)
    np.testing.assert_allclose(np.ravel(evaluation["y_true"]), y_test)
    assert "Predicted vs true (test split)" in page and "R²" in page
    assert html.escape(NO_MONITORS) in page  # the per-layer sections say why they are empty
    assert len(_images(page)) == 4  # loss, R², first layer, predicted vs true
    assert "Constant learning rate 0.001 for all 8 epochs (lr_schedule=&#x27;auto&#x27;)." in page


def test_report_from_a_cli_run_folder_and_the_report_command(tmp_path, capsys):
    from trainwell.cli import run_fit

    frame = load_iris(as_frame=True).frame
    X, y = frame.drop(columns="target"), frame["target"].to_numpy()
    run_fit(X, y, task="classification", params={"max_epochs": 15, "random_state": 0}, out=str(tmp_path / "run"),
            test_fraction=0.2, seed=0, quiet=True, source="iris.csv")
    (tmp_path / "run" / "report.html").unlink(missing_ok=True)
    parser = argparse.ArgumentParser()
    report_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["report", str(tmp_path / "run"), "--quiet"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "run" / "report.html")
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "trainwell report: iris.csv" in page
    assert len(_images(page)) >= 3  # curves and first layer at least; more with diagnostics
    assert '"max_epochs": 15' in html.unescape(page)


def test_one_run_folder_format_from_the_cli_and_from_python_with_the_test_rows_predicted_once(
        tmp_path, iris_split, monkeypatch, capsys):
    from trainwell.cli import run_fit

    X_train, X_test, y_train, y_test = iris_split
    predicted = []
    real = NeuralNetClassifier.predict_proba

    def counting(self, X):
        predicted.append(len(X))
        return real(self, X)

    monkeypatch.setattr(NeuralNetClassifier, "predict_proba", counting)
    params = {"max_epochs": 3, "random_state": 0}
    run_fit(X_train, y_train, task="classification", params=params, out=str(tmp_path / "cli"), test_fraction=0.2,
            seed=0, quiet=True, source="iris.csv", test=(X_test, y_test))
    assert predicted == [len(y_test)]  # metrics.json and evaluation.json from one prediction
    est = NeuralNetClassifier(**params).fit(X_train, y_train)
    predicted.clear()
    save_run(est, tmp_path / "py", X_test, y_test, source="iris.csv")
    assert predicted == [len(y_test)]

    folders = {name: tmp_path / name for name in ("cli", "py")}
    for folder in folders.values():
        assert sorted(p.name for p in folder.iterdir()) == [
            "config.json", "diagnostics.json", "evaluation.json", "history.csv", "metrics.json", "model", "report.html"]
    cli, py = ({k: json.loads((f / name).read_text()) for k, f in folders.items()} for name in ("config.json", "metrics.json"))
    assert list(cli["cli"]) == list(cli["py"])  # one config.json format
    assert cli["cli"]["params"] == cli["py"]["params"] and "checkpoint_dir" not in cli["cli"]["params"]
    assert (cli["cli"]["test_fraction"], cli["cli"]["seed"], cli["py"]["test_fraction"]) == (0.2, 0, None)
    assert list(py["cli"]) == ["accuracy", "balanced_accuracy", "log_loss", "n_test", "fit_seconds", "epochs", "best_epoch"]
    assert {k: v for k, v in py["cli"].items() if k != "fit_seconds"} == py["py"]
    evaluation = json.loads((folders["cli"] / "evaluation.json").read_text())
    assert evaluation["metrics"] == {k: py["cli"][k] for k in evaluation["metrics"]}

    # folders written before the format was shared lack some keys; the readers take them as they are
    for name, missing in (("cli", ("augmentation",)), ("py", ("test_fraction", "seed"))):
        old = json.loads((folders[name] / "config.json").read_text())
        (folders[name] / "config.json").write_text(json.dumps({k: v for k, v in old.items() if k not in missing}))
        assert "trainwell report: iris.csv" in build_report(folders[name]).read_text(encoding="utf-8")
    from trainwell.cli import main

    assert main(["info", str(folders["py"])]) == 0 and "test metrics: " in capsys.readouterr().out


def test_report_inputs_can_be_added_to_an_existing_run_folder(tmp_path, iris_split):
    X_train, X_test, y_train, y_test = iris_split
    est = NeuralNetClassifier(max_epochs=3, random_state=0).fit(X_train, y_train)
    with pytest.raises(DataError, match="not a folder"):
        write_report_inputs(est, X_test, y_test, tmp_path / "missing")
    with pytest.raises(DataError, match="both X_test and y_test"):
        write_report_inputs(est, X_test, None, tmp_path)
    written = write_report_inputs(est, X_test, y_test, tmp_path)
    assert sorted(p.name for p in written) == ["diagnostics.json", "evaluation.json"]


def test_a_report_degrades_gracefully_and_bad_folders_fail_in_one_sentence(sigmoid_run, tmp_path):
    _, run_dir, _, _, _ = sigmoid_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "diagnostics.json").unlink()
    (copy / "evaluation.json").unlink()
    page = build_report(copy).read_text(encoding="utf-8")
    assert html.escape(NO_MONITORS) in page and "no diagnostics.json" in page
    assert "No test-split predictions were saved" in page
    with pytest.raises(DataError, match="not a folder"):
        build_report(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no model/model.json"):
        build_report(tmp_path)
    (copy / "config.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        build_report(copy)


def test_the_run_folder_of_a_50_epoch_run_holds_every_epoch_and_its_report_every_plot(tmp_path, iris_split):
    # What a report costs is measured by bench/report_speed.py on this same run (no timing assertion here).
    X_train, X_test, y_train, y_test = iris_split
    # one step an epoch keeps the fit quick; a report's cost grows with epochs and layers, not steps
    est = NeuralNetClassifier(max_epochs=50, patience=100, batch_size=128, random_state=0).fit(X_train, y_train)
    assert est.n_iter_ == 50
    report = save_run(est, tmp_path / "run", X_test, y_test)
    assert report == tmp_path / "run" / "report.html"
    assert list(pd.read_csv(tmp_path / "run" / "history.csv")["epoch"]) == list(range(1, 51))
    assert len(_images(report.read_text(encoding="utf-8"))) == 7  # constant lr, no dead units: sentences


# ------------------------------------------------------------------ drawing helpers
def test_histogram_resampling_conserves_mass_against_numpy():
    values = np.random.default_rng(0).normal(size=5000)
    counts, edges = np.histogram(values, bins=40)
    hist = {"edges": edges.tolist(), "counts": counts.tolist()}
    np.testing.assert_allclose(_resample_hist(hist, edges), counts / counts.sum())
    coarse = edges[::2]
    np.testing.assert_allclose(_resample_hist(hist, coarse), counts.reshape(-1, 2).sum(1) / counts.sum())
    wide = np.linspace(edges[0] - 1, edges[-1] + 1, 7)
    assert _resample_hist(hist, wide).sum() == pytest.approx(1.0)


def test_mosaic_places_each_tile_in_its_cell():
    tiles = np.arange(5 * 3 * 4, dtype=float).reshape(5, 3, 4)
    mosaic = _mosaic(tiles, cols=2, pad=1)
    assert mosaic.shape == (3 * 4 - 1, 2 * 5 - 1)
    np.testing.assert_array_equal(mosaic[4:7, 5:9], tiles[3])  # row 1, column 1
    assert np.isnan(mosaic[3]).all() and np.isnan(mosaic[8:, 5:]).all()  # padding and the empty last cell


def test_first_layer_of_pixel_inputs_is_drawn_as_images(tmp_path):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    est = NeuralNetClassifier(hidden=(16,), max_epochs=2, random_state=0, diagnostics=False).fit(X, y)
    save_run(est, tmp_path / "digits")
    record = load_run(tmp_path / "digits")
    np.testing.assert_allclose(record.first_layer, est.network_.features[0].weight.detach().cpu().numpy())
    page = (tmp_path / "digits" / "report.html").read_text(encoding="utf-8")
    assert "laid out like the input image" in page
    table = pd.DataFrame(X[:, :5], columns=[f"f{i}" for i in range(5)])
    est = NeuralNetClassifier(hidden=(8,), max_epochs=2, random_state=0, diagnostics=False).fit(table, y)
    save_run(est, tmp_path / "table")
    assert "per input feature" in (tmp_path / "table" / "report.html").read_text(encoding="utf-8")


def test_many_classes_get_a_drawn_confusion_matrix():
    from trainwell.report.plots import confusion, to_png

    png = to_png(confusion(np.diag(np.arange(1, 26)).tolist(), [f"class {i}" for i in range(25)]))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and np.asarray(image.convert("L")).std() > 5


# ------------------------------------------------------------------ a real browser
@needs_chromium
def test_report_renders_in_headless_chromium(sigmoid_run, tmp_path):
    _, _, report, _, _ = sigmoid_run
    page = report.read_text(encoding="utf-8")
    n_images = len(IMG.findall(page))
    shown = render(page, tmp_path, height=2000)
    assert shown.other_console == []  # no console errors or warnings
    assert shown.images_loaded is not None, shown.stderr[-2000:]
    assert shown.images_loaded == shown.images_total == n_images == 8  # images in folded <details> load too
    image = shown.screenshot
    assert image.shape == (2000, 1280, 3)
    colours = np.unique((image[..., 0] << 16) | (image[..., 1] << 8) | image[..., 2])
    assert image.std() > 20 and colours.size > 500  # not blank: text, plots and colour
    assert np.abs(image[20, 20] - [0x1D, 0x23, 0x30]).max() < 8  # the header band was styled


# ------------------------------------------------------------------ TensorBoard
def test_tensorboard_events_hold_the_history_and_the_layers(tmp_path, iris_split):
    pytest.importorskip("tensorboard", reason="TensorBoard logging needs the tensorboard package")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from trainwell.report import TensorBoardLogger
    from trainwell.report.tensorboard import scalar_events

    X_train, _, y_train, _ = iris_split
    board = TensorBoardLogger(tmp_path / "live")
    est = NeuralNetClassifier(max_epochs=4, random_state=0, callbacks=[board]).fit(X_train, y_train)
    scalars = scalar_events(board.log_dir)
    assert [step for step, _ in scalars["loss/train"]] == [1, 2, 3, 4]
    np.testing.assert_allclose([v for _, v in scalars["loss/train"]], est.history_.column("train_loss"), rtol=1e-6)
    np.testing.assert_allclose([v for _, v in scalars["accuracy/val"]], est.history_.column("val_accuracy"), rtol=1e-6)
    ratios = [row["layers"]["dense1"]["update_ratio"] for row in est.history_]
    np.testing.assert_allclose([v for _, v in scalars["update_ratio/dense1"]], ratios, rtol=1e-6)
    events = EventAccumulator(str(board.log_dir), size_guidance={"histograms": 0})
    events.Reload()
    histograms = set(events.Tags()["histograms"])
    assert {"activations/dense1", "gradients/output", "weights/features.0.weight"} <= histograms
    last = events.Histograms("activations/dense1")[-1].histogram_value
    assert last.num == sum(est.history_[-1]["layers"]["dense1"]["act_hist"]["counts"])
    board.move_into(tmp_path / "run")
    assert not (tmp_path / "live").exists() and list((tmp_path / "run").glob("events.out.tfevents.*"))


def test_tensorboard_without_the_package_says_how_to_install_it(monkeypatch, iris_split):
    import sys

    from trainwell.exceptions import ConfigError
    from trainwell.report import TensorBoardLogger

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    X_train, _, y_train, _ = iris_split
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        NeuralNetClassifier(max_epochs=1, callbacks=[TensorBoardLogger()]).fit(X_train, y_train)
