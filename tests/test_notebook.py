"""trainwell in Jupyter: the quickstart notebook run by a real kernel, and each object's HTML view.

The notebook (docs/notebooks/quickstart.ipynb, also a page of the docs site) is executed with
``nbclient`` and an ``ipykernel`` kernel, as a user would run it; its outputs must hold the
HTML views and no error. Then each ``_repr_html_`` is checked on its own: the numbers it shows
are the fitted estimator's, every user text is escaped, the image is a real PNG.
"""

from __future__ import annotations

import base64
import html
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from trainwell import NeuralNetClassifier, NeuralNetRegressor, compare
from trainwell.diagnose import Finding, Findings, rank
from trainwell.progress import LiveProgress, NotebookProgress, in_notebook
from trainwell.report.notebook import ReportView
from trainwell.train import PrintProgress
from trainwell.tune import TuneResult

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "quickstart.ipynb"
HOSTILE = '<script>alert("x")</script> & <b>'


def _escaped_only(page: str, text: str) -> None:
    """``text`` appears escaped in ``page`` and never raw."""
    assert html.escape(text) in page or html.escape(text, quote=False) in page
    assert text not in page


def _pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


# ------------------------------------------------------------------ the notebook, run by a real kernel
def test_the_quickstart_notebook_runs_in_a_kernel_and_shows_the_views(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            outputs[cell.source] = cell.outputs
            for out in cell.outputs:
                assert out.output_type != "error", f"{cell.source!r} raised {out.get('ename')}: {out.get('evalue')}"
                assert not (out.output_type == "stream" and out.name == "stderr"), f"{cell.source!r}: {out.text}"

    def shown(prefix: str, kind: str = "execute_result") -> str:
        [source] = [s for s in outputs if s.startswith(prefix)]
        pages = [o.data["text/html"] for o in outputs[source] if o.output_type == kind and "text/html" in o.get("data", {})]
        assert pages, f"no HTML output of {prefix!r}"
        return pages[-1]

    unfitted = shown("est = NeuralNetClassifier(")
    assert "sk-estimator" in unfitted and "trainwell-estimator" not in unfitted  # scikit-learn's own diagram
    progress = shown("est.fit(", "display_data")  # verbose=1: one output, redrawn in place
    assert "<progress" in progress and re.search(r"finished 40 epochs|early stopping", progress)  # the final redraw
    [fit_source] = [s for s in outputs if s.startswith("est.fit(")]
    assert sum(o.output_type == "display_data" for o in outputs[fit_source]) == 1
    fitted = shown("est.fit(")
    for words in ("best validation accuracy", "best validation loss", "best epoch of all trained",
                  "why training stopped", "Settings chosen by", "sk-estimator"):
        assert words in fitted
    assert len(_pngs(fitted)) == 1
    findings = shown("too_fast = ")
    assert "Findings, most serious first" in findings and "lr_too_high" in findings
    comparison = shown("result = compare(")
    assert "logistic" in comparison and "significantly best" in comparison and "<img" in comparison
    search = shown("search = tune(")
    assert "best validation loss" in search and "Best settings" in search and "<img" in search
    report = shown("est.show_report(")
    assert report.startswith("<iframe srcdoc=") and "Confusion matrix" in report


# ------------------------------------------------------------------ findings
def _finding(code: str, severity: str, message: str = "m", advice: str = "") -> Finding:
    return Finding(code, severity, message, advice)


def test_findings_show_ranked_and_escaped():
    found = Findings([_finding("slow", "info"), _finding("bad<code>", "error", HOSTILE, advice=HOSTILE),
                      _finding("meh", "warning")])
    page = found._repr_html_()
    _escaped_only(page, HOSTILE)
    assert page.index("bad&lt;code&gt;") < page.index("meh") < page.index("slow")  # errors first
    assert "1 error, 1 warning, 1 info" in page
    assert "nothing to report" in Findings()._repr_html_()


def test_findings_stay_a_plain_list():
    a, b = _finding("a", "info"), _finding("b", "error")
    assert Findings() == [] and Findings([a]) == [a]
    assert isinstance(rank([a, b]), Findings) and rank([a, b]) == [b, a]
    assert type(Findings([a]) + [b]) is Findings and type([b] + Findings([a])) is Findings
    assert [b] + Findings([a]) == [b, a]


# ------------------------------------------------------------------ estimators
@pytest.fixture(scope="module")
def fitted(iris):
    X, y = iris
    return NeuralNetClassifier(max_epochs=6, random_state=0).fit(X, y)


def test_a_fitted_estimator_shows_its_own_numbers(fitted):
    page = fitted._repr_html_()
    row = next(r for r in fitted.history_ if r["epoch"] == fitted.best_epoch_)
    assert re.search(rf">{row['val_accuracy']:.4f}<.*?best validation accuracy", page)
    assert re.search(rf">{row['val_loss']:.4f}<.*?best validation loss", page)
    assert f">{fitted.best_epoch_} of {fitted.n_iter_}<" in page
    assert f">{fitted.n_train_:,} / {fitted.n_val_:,}<" in page
    [png] = _pngs(page)
    width, height = _png_size(png)
    assert 300 < width < 450 and 150 < height < 260  # small: two thirds of the report's figure
    hidden = list(fitted.spec_.hidden)
    assert f"hidden: auto → {hidden}" in html.unescape(page)  # what "auto" became
    assert "No run folder" in page and "sk-estimator" in page  # scikit-learn's diagram follows
    bundle = fitted._repr_mimebundle_()
    assert "trainwell-estimator" in bundle["text/html"] and bundle["text/plain"] == repr(fitted)


def test_a_loaded_model_shows_its_numbers_and_says_why_it_has_no_findings(fitted, tmp_path):
    from trainwell import load

    fitted.save(tmp_path / "model")
    page = load(tmp_path / "model")._repr_html_()
    row = next(r for r in fitted.history_ if r["epoch"] == fitted.best_epoch_)
    assert f">{row['val_accuracy']:.4f}<" in page and len(_pngs(page)) == 1
    assert "does not carry them" in html.unescape(page)


def test_an_unfitted_estimator_keeps_scikit_learns_diagram():
    est = NeuralNetClassifier(hidden=(7, 3))
    page = est._repr_html_()
    assert "sk-estimator" in page and "trainwell-estimator" not in page
    assert "(7, 3)" in page  # the parameter as set
    with sklearn.config_context(display="text"):  # scikit-learn's switch holds for both
        assert not hasattr(est, "_repr_html_") and "text/html" not in est._repr_mimebundle_()


def test_a_regressor_shows_r2_and_a_hostile_finding_is_escaped():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    est = NeuralNetRegressor(max_epochs=4, random_state=0).fit(X, X @ [1.0, -2.0, 0.5])
    est.findings_ = Findings([_finding("odd", "warning", HOSTILE, HOSTILE)])
    page = est._repr_html_()
    assert "best validation R²" in page and "best validation accuracy" not in page
    _escaped_only(page, HOSTILE)


def test_the_run_folder_is_named_escaped_and_show_report_reads_it(tmp_path, iris):
    X, y = iris
    folder = tmp_path / "a<b>&c"
    est = NeuralNetClassifier(max_epochs=3, random_state=0, report=str(folder)).fit(X, y)
    page = est._repr_html_()
    _escaped_only(page, str(folder))
    view = est.show_report()
    assert view.path == Path(est.report_path_) and view.html == Path(est.report_path_).read_text(encoding="utf-8")


class _Frames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcdoc: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "iframe":
            self.srcdoc.append(dict(attrs)["srcdoc"])


def test_show_report_puts_the_whole_page_in_a_frame_and_leaves_nothing_on_disk(fitted, tmp_path, monkeypatch, iris):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    X, y = iris
    view = fitted.show_report(X[:30], y[:30], height=500)
    assert isinstance(view, ReportView) and view.path is None
    assert list(tmp_path.iterdir()) == []  # the scratch run folder is gone
    assert "Confusion matrix" in view.html and "not saved" in view.html and str(tmp_path) not in view.html
    frame = view._repr_html_()
    parser = _Frames()
    parser.feed(frame)
    assert parser.srcdoc == [view.html]  # the page, intact, inside the frame (its CSS stays there)
    assert "height:500px" in frame and "<style" not in frame.split("srcdoc=")[0]


def test_show_report_needs_a_fitted_estimator():
    from trainwell.exceptions import NotFitted

    with pytest.raises(NotFitted):
        NeuralNetClassifier().show_report()


# ------------------------------------------------------------------ compare and tune results
def test_a_comparison_shows_its_verdict_with_names_escaped(iris):
    X, y = iris
    bad_name = "<net> & co"
    result = compare({bad_name: LogisticRegression(max_iter=500), "dummy": DummyClassifier()}, X, y, cv=3)
    page = result._repr_html_()
    _escaped_only(page, bad_name)
    assert html.escape(result.verdict.splitlines()[0]) in page
    for name, row in result.summary.iterrows():
        assert f"{row['mean']:.4f}" in page and html.escape(f"{name}: mean accuracy") in page
    assert len(_pngs(page)) == 1


def test_a_tune_result_shows_the_best_settings_escaped():
    trials = pd.DataFrame({"study": ["s.lr"] * 3 + ["s.refine"] * 2, "round": 0,
                           "stage": ["lr"] * 3 + ["refine"] * 2, "number": [0, 1, 2, 0, 1],
                           "state": ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE", "FAIL"],
                           "score": [0.5, 0.3, np.nan, 0.25, np.nan]})
    result = TuneResult(best_params={"lr": 0.0123, "hidden": HOSTILE}, best_score=0.25, metric="loss",
                        trials=trials, warnings=[HOSTILE], storage="in memory", run_dir=Path("/tmp/<run>"),
                        seconds=1.5)
    page = result._repr_html_()
    _escaped_only(page, HOSTILE)
    _escaped_only(page, "/tmp/<run>")
    assert ">0.2500<" in page and "lower is better" in page and ">3 / 1 / 1<" in page
    assert "0.0123" in page and len(_pngs(page)) == 1


# ------------------------------------------------------------------ progress in a notebook
class _Display:
    """IPython's display(..., display_id=True) and the handle's update, recorded."""

    def __init__(self) -> None:
        self.shown: list = []
        self.updates: list = []

    def __call__(self, obj, display_id=False):
        assert display_id is True
        self.shown.append(obj)
        return self

    def update(self, obj):
        self.updates.append(obj)


def test_notebook_progress_is_one_output_redrawn_in_place(iris):
    X, y = iris
    screen = _Display()
    progress = NotebookProgress(display=screen, min_interval=0.0)
    est = NeuralNetClassifier(max_epochs=5, random_state=0, diagnostics=False, callbacks=[progress]).fit(X, y)
    assert len(screen.shown) == 1 and len(screen.updates) >= est.n_iter_  # one output, every epoch redrawn
    last = screen.updates[-1]
    assert f"epoch {est.n_iter_}/5" in repr(last) and "finished 5 epochs" in repr(last)
    page = last._repr_html_()
    assert '<progress value="5.000" max="5"' in page
    assert f"<td>{est.history_[-1]['train_loss']:.4f}</td>" in page
    assert progress._handle is None  # nothing of the notebook stays behind


def test_verbose_picks_the_notebook_display_only_in_a_kernel(monkeypatch, iris, capsys):
    from trainwell import progress as progress_module
    from trainwell.estimators.callbacks import assemble_callbacks

    assert not in_notebook()  # pytest is no Jupyter kernel
    gen = __import__("torch").Generator()

    def kinds(verbose: int) -> set[type]:
        est = NeuralNetClassifier(verbose=verbose, diagnostics=False)
        return {type(cb) for cb in assemble_callbacks(est, validates=True, generator=gen, fingerprint=None, resume=False)}

    assert PrintProgress in kinds(1) and NotebookProgress not in kinds(1)
    monkeypatch.setattr(progress_module, "in_notebook", lambda: True)
    assert NotebookProgress in kinds(1) and PrintProgress not in kinds(1)
    assert not kinds(0) & {NotebookProgress, PrintProgress}
    X, y = iris
    NeuralNetClassifier(max_epochs=2, verbose=0, random_state=0).fit(X, y)  # quiet: nothing drawn or printed
    assert capsys.readouterr() == ("", "")


def test_the_command_line_progress_prints_rows_and_no_bar_in_jupyter(iris):
    import io

    from rich.console import Console

    X, y = iris
    progress = LiveProgress(Console(file=io.StringIO(), force_jupyter=True))
    NeuralNetClassifier(max_epochs=2, random_state=0, diagnostics=False, callbacks=[progress]).fit(X, y)
    assert not progress.live and progress.updates == 0  # rich's console in Jupyter is no terminal: no carriage returns
