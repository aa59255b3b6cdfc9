"""The report's layout: what a practitioner asks first is on the first screen, and nothing spills.

How good is the model, where does it fail, what should change: the headline metrics, the
findings and the test split's view sit at the top (the test split's view inside the first
1080 px of a 1280 px wide window, in Debian's headless Chromium); the per-layer internals,
the speed and the versions are folded below. Plus the words that replace plots which would
say nothing (no dead units, an R² far off the chart) and the resolved ``"auto"`` settings.
"""

from __future__ import annotations

import html
import json
import math
import re

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import precision_score, recall_score
from sklearn.model_selection import train_test_split

from _chromium import needs_chromium, render
from trainwell import NeuralNetClassifier
from trainwell.report import save_run
from trainwell.report.html import headline, param_text, per_class, r2_note, unit_words
from trainwell.report.plots import first_layer_table
from trainwell.report.record import RunRecord, load_run

SCREEN = 1080  # the first screen: a 1280 x 1080 window, as the Chromium test renders it

#: Measures the page once it has loaded: where the test split's view starts and ends, then
#: (every <details> opened) which table cells' text is wider than the cell, and which cells'
#: text runs into the next cell's (less than 6 px between them on one line).
_MEASURE = """<script>window.addEventListener("load",()=>{
const view=document.querySelector("#test table.confusion, #test figure").getBoundingClientRect();
const head=document.getElementById("test").getBoundingClientRect();
document.querySelectorAll("details").forEach(d=>d.open=true);
const cells=[...document.querySelectorAll("td, th")];
const name=c=>c.textContent.trim().slice(0,40).replace(/\\s+/g,"_");
const over=cells.filter(c=>c.scrollWidth>c.clientWidth).map(name);
const box=c=>{const r=document.createRange();r.selectNodeContents(c);const b=r.getBoundingClientRect();return b.width?b:null};
const touching=cells.filter(c=>{const n=c.nextElementSibling,a=box(c),b=n&&box(n);
  return a&&b&&Math.abs(a.bottom-b.bottom)<4&&b.left-a.right<6}).map(c=>name(c)+"+"+name(c.nextElementSibling));
console.log("TW-LAYOUT "+[innerWidth,innerHeight,head.top,view.top,view.bottom,cells.length].map(Math.round).join(" ")
  +" | "+over.length+" "+over.slice(0,6).join(" ")+" | "+touching.length+" "+touching.slice(0,6).join(" "));
});</script>"""


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A real 10-class run with a test split, every monitor and the step timing (report=)."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    run_dir = tmp_path_factory.mktemp("layout") / "digits"
    est = NeuralNetClassifier(max_epochs=6, random_state=0, report=str(run_dir)).fit(X_train, y_train)
    report = save_run(est, run_dir, X_test, y_test, source="digits (sklearn)")
    return est, run_dir, report.read_text(encoding="utf-8"), X_test, y_test


# ------------------------------------------------------------------ a real browser
@needs_chromium
def test_the_test_split_view_is_on_the_first_screen_and_no_cell_spills(digits_run, tmp_path):
    _, _, page, _, _ = digits_run
    assert 'id="speed"' in page and "A training step takes" in page  # the speed table is there to check
    shown = render(page.replace("</body>", _MEASURE + "</body>"), tmp_path, height=SCREEN)
    line = re.search(r"TW-LAYOUT ([\d\s-]+) \| (\d+)([^|]*) \| (\d+)([^\"]*)", shown.stderr)
    assert line is not None, shown.stderr[-2000:]
    width, height, card_top, view_top, view_bottom, n_cells = (int(v) for v in line.group(1).split())
    assert width == 1280 and height > 0.8 * SCREEN  # the window's own bars take the rest of its 1080 px
    assert 0 < card_top < view_top < SCREEN  # the confusion matrix starts on the first screen ...
    assert view_bottom <= SCREEN  # ... and, for ten classes, ends there too
    assert n_cells > 100  # the confusion matrix, the data, the speed and the versions tables
    print("layout (width, height, card top, view top, view bottom, cells):", line.group(1))
    assert int(line.group(2)) == 0, f"table cells whose text overflows:{line.group(3)}"
    assert int(line.group(4)) == 0, f"table cells whose text runs into the next cell's:{line.group(5)}"
    assert [c for c in shown.other_console if "TW-LAYOUT" not in c] == []


def test_the_page_leads_with_the_headline_the_findings_and_the_test_split(digits_run):
    est, _, page, _, _ = digits_run
    order = [page.index(marker) for marker in (
        'class="tiles"', 'id="findings"', 'id="test"', 'id="loss"', 'id="metric"',
        'id="internals"', 'id="update_ratio"', 'id="timing"', 'id="speed"', 'id="data"', 'id="config"',
        'id="versions"', 'id="environment"')]
    assert order == sorted(order)
    ends = {"internals": 'id="timing"', "timing": '<section id="data"', "versions": "</main>"}
    for group, end in ends.items():  # folded, unless a finding points inside
        tag = re.search(rf'<details class="group" id="{group}"[^>]*>', page).group(0)
        inside = page[page.index(tag):page.index(end)]
        assert ("open" in tag) == ('class="finding ' in inside), group
    tiles = page[page.index('class="tiles"'):page.index("<nav>")]
    assert f"{est.best_epoch_} of {est.n_iter_}" in tiles and "test accuracy (450 rows)" in tiles


def test_the_confusion_matrix_carries_each_class_precision_and_recall(digits_run):
    est, _, page, X_test, y_test = digits_run
    predicted = est.predict(X_test)
    table = page[page.index('<table class="confusion">'):]
    table = table[:table.index("</table>")]
    matrix, under = table.split('<tr class="precision">')
    recall = [float(v) for v in re.findall(r'<td class="pr">([\d.]+)</td></tr>', matrix)]
    np.testing.assert_allclose(recall, recall_score(y_test, predicted, average=None), atol=0.005)
    precision = [float(v) for v in re.findall(r'<td class="pr">([\d.]+)</td>', under)]
    np.testing.assert_allclose(precision, precision_score(y_test, predicted, average=None), atol=0.005)
    assert "Most frequent mistake: true class " in page


def test_per_class_scores_of_a_class_never_predicted_or_never_seen():
    precision, recall, support = per_class([[3, 1, 0], [0, 0, 0], [2, 0, 0]])
    np.testing.assert_allclose(precision[:2], [0.6, 0.0])
    assert math.isnan(precision[2]) and math.isnan(recall[1])  # 0/0: never predicted, never in the test rows
    np.testing.assert_allclose(support, [4, 0, 2])


# ------------------------------------------------------------------ the resolved "auto" settings
def test_auto_settings_show_what_they_became(digits_run):
    est, run_dir, page, _, _ = digits_run
    config = json.loads((run_dir / "config.json").read_text())
    resolved = config["resolved"]
    assert config["params"]["batch_size"] == "auto" and resolved["batch_size"] == est.train_config_.batch_size
    assert resolved["hidden"] == list(est.spec_.hidden) and resolved["dropout"] == est.spec_.dropout
    assert resolved["lr_schedule"] == est.train_config_.lr_schedule
    params = html.unescape(page[page.index('<div class="params">'):])
    assert f"batch_size</span> <code>auto → {est.train_config_.batch_size}</code>" in params
    assert f"hidden</span> <code>auto → {json.dumps(list(est.spec_.hidden))}</code>" in params
    assert "max_epochs</span> <code>6</code>" in params  # a value that was given stays as it is


def test_a_run_folder_without_the_resolved_block_takes_them_from_its_other_files(digits_run):
    _, run_dir, _, _, _ = digits_run
    rec = load_run(run_dir)
    rec.config = {k: v for k, v in rec.config.items() if k != "resolved"}  # as written before the block
    assert rec.resolved["hidden"] == rec.spec["hidden"] and rec.resolved["dropout"] == rec.spec["dropout"]
    assert rec.resolved["batch_size"] == rec.diagnostics["run"]["step_time"]["batch_size"]
    assert param_text("dropout", "auto", rec.resolved) == f"auto → {rec.spec['dropout']:g}"
    assert param_text("conv", "auto", {"conv": []}) == "auto → none"
    assert param_text("lr", 0.001, rec.resolved) == "0.001" and param_text("hidden", "auto", {}) == "auto"


# ------------------------------------------------------------------ words instead of empty plots
def test_no_dead_units_is_said_in_words_not_drawn():
    flat = {"dense1": [0.0, 0.0, 0.0], "dense2": [0.0, math.nan, 0.0]}
    plotted, words = unit_words(flat, "dead units", "every ReLU unit fired")
    assert plotted == {} and words == "No dead units in dense1, dense2: every ReLU unit fired."
    plotted, words = unit_words({"dense1": [0.0, 0.004], "dense2": [0.1, 0.5]}, "dead units", "")
    assert list(plotted) == ["dense2"] and words == "Almost no dead units in dense1: at most 0.4% in any epoch."
    assert unit_words({"dense1": [0.2]}, "dead units", "") == ({"dense1": [0.2]}, "")


def test_the_units_section_of_a_healthy_relu_run_is_a_sentence(digits_run):
    est, _, page, _, _ = digits_run
    dead = [row["layers"]["dense1"]["dead_fraction"] for row in est.history_]
    if max(dead) > 0:
        pytest.skip("this run has dead units, so its section is a plot")
    units = page[page.index('<section id="units"'):]
    units = units[:units.index("</section>")]
    assert "<img" not in units and "No dead units in dense1" in units


def test_an_r2_far_below_the_chart_is_said_in_words():
    note, drawable = r2_note([-3e5, -2e5], [-1e6, -4e5])
    assert not drawable and note.startswith("R² fell to −1.0e6, last validation R² −4.0e5: off this chart's scale")
    note, drawable = r2_note([-50.0, 0.2, 0.5], [-2.0, 0.1, 0.4])
    assert drawable and note.startswith("R² fell to −50 in some epochs") and "cut off" in note
    assert r2_note([0.1, 0.5], [-0.5, 0.4]) == (None, True)
    assert r2_note([math.nan], [math.nan]) == (None, True)


def test_a_regression_report_with_a_diverged_r2_shows_the_sentence_not_an_empty_chart(tmp_path):
    history = [{"epoch": e, "train_loss": 1e6, "val_loss": 2e6, "train_r2": -1e6 / e, "val_r2": -2e6 / e}
               for e in range(1, 4)]
    rec = RunRecord(path=tmp_path, config={"task": "regression"}, history=history)
    from trainwell.report import html as report_html

    page = report_html.render(rec)
    metric = page[page.index('<section id="metric"'):]
    metric = metric[:metric.index("</section>")]
    assert "<img" not in metric and "R² fell to −2.0e6" in html.unescape(metric)
    assert headline(rec)[0] == ("-666666.6667", "validation R² at epoch 3 (no test split)")


# ------------------------------------------------------------------ the first layer of a table
def test_first_layer_bars_are_the_real_norms_and_the_colour_bar_fits(tmp_path):
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(64, 96)) * np.r_[np.full(48, 1.0), np.geomspace(1.0, 1e-3, 48)]
    fig = first_layer_table(weights, [f"f{i}" for i in range(96)], init_norm=8.0)
    fig.canvas.draw()
    bars, heat, bar_axis = fig.axes[0], fig.axes[1], fig.axes[-1]
    norms = np.linalg.norm(weights, axis=0)
    widths = np.array([p.get_width() for p in bars.patches])
    shown = [int(t.get_text()[1:]) for t in bars.get_yticklabels()]
    np.testing.assert_allclose(widths, norms[shown], rtol=1e-6)  # lengths are the norms themselves
    assert len(shown) == 30 and 95 in shown and np.argmax(norms) in shown  # the largest and the smallest
    assert widths.max() / widths.min() > 100 and bars.get_xlim()[0] == 0
    drawn = bar_axis.get_tightbbox(fig.canvas.get_renderer())  # the colour bar with its numbers and label
    assert bar_axis.get_yticklabels() and drawn.x1 <= fig.bbox.width  # nothing cut at the right edge
    assert heat.get_xlabel().startswith("48 of 64 units")
