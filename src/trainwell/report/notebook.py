"""How trainwell's objects show themselves in Jupyter: HTML for ``_repr_html_``.

- :func:`estimator_html`: a fitted estimator (the headline numbers, the findings ranked, a
  small loss-curve image, where its run folder and report are, what its ``"auto"`` settings
  became, then scikit-learn's own estimator diagram). An unfitted estimator keeps
  scikit-learn's diagram alone: its ``"auto"`` settings are only resolved by a fit.
- :func:`compare_html`, :func:`tune_html`: a :class:`~trainwell.compare.CompareResult` and a
  :class:`~trainwell.tune.TuneResult` (their classes sit above this layer and hand their
  figure in as PNG bytes).
- :class:`ReportView`: a run's full ``report.html`` shown inline (``est.show_report()``), inside
  an ``<iframe srcdoc>`` so the report's style sheet cannot restyle the notebook around it.

The findings' HTML is :func:`trainwell.diagnose.findings.findings_html` (a list of findings shows
itself with it, one layer below). Every piece of user text (model names, parameter values,
paths, messages) is escaped with :func:`html.escape`. Only inline styles are used, so nothing
leaks into the notebook's page. Matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import html
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..diagnose.findings import findings_html

__all__ = ["ReportView", "compare_html", "estimator_html", "report_view", "tune_html"]

#: Dots per inch of the inline figures: the report's figures at two thirds of their size.
SMALL_DPI = 64

_BOX = "font-family:inherit;line-height:1.4;max-width:1000px"
_TILE = ("display:inline-block;border:1px solid rgba(127,127,127,.35);border-radius:6px;padding:4px 10px;"
         "margin:0 6px 6px 0;vertical-align:top")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def tiles(items: list[tuple[str, str]]) -> str:
    """Headline numbers as small boxes: ``(label, value)`` pairs, both escaped."""
    return "".join(f'<div style="{_TILE}"><div style="font-size:120%;font-weight:600">{_esc(value)}</div>'
                   f'<div style="opacity:.75;font-size:85%">{_esc(label)}</div></div>' for label, value in items)


def _image(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    from .html import image_tag

    return image_tag(png, alt)


def _side_by_side(left: str, right: str) -> str:
    if not right:
        return left
    return (f'<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">'
            f'<div style="flex:1 1 340px;min-width:300px">{left}</div><div style="flex:0 0 auto">{right}</div></div>')


# ------------------------------------------------------------------ a fitted estimator
def headline(est: Any) -> list[tuple[str, str]]:
    """A fitted estimator's headline numbers as ``(label, value)``: the validation metric and
    loss at the best epoch (training's when there was no validation split), the best epoch of
    all trained, why training stopped and the rows it trained on."""
    history = list(getattr(est, "history_", None) or [])
    best_epoch = getattr(est, "best_epoch_", None)
    metric, name = ("accuracy", "accuracy") if hasattr(est, "classes_") else ("r2", "R²")
    out: list[tuple[str, str]] = []
    if history:
        row = next((r for r in history if r.get("epoch") == best_epoch), history[-1])
        split = "val" if _number(row.get("val_loss")) else "train"
        words = "validation" if split == "val" else "training"
        for key, label in ((f"{split}_{metric}", name), (f"{split}_loss", "loss")):
            if _number(row.get(key)):
                out.append((f"best {words} {label}" if split == "val" else f"{words} {label}", f"{row[key]:.4f}"))
    epochs = getattr(est, "n_iter_", None) or len(history)
    if not epochs:  # prepare(): built, not trained
        out.append(("epochs trained", "0"))
    else:
        out.append(("best epoch of all trained", f"{best_epoch} of {epochs}" if best_epoch is not None else str(epochs)))
    reason = getattr(est, "stop_reason_", None)
    if reason and epochs:
        head, _, rest = str(reason).partition(": ")
        out.append((rest or "why training stopped", head))
    n_train, n_val = getattr(est, "n_train_", None), getattr(est, "n_val_", None)
    if n_train is not None:
        out.append(("training / validation rows", f"{n_train:,} / {n_val or 0:,}"))
    return out


def loss_png(est: Any, dpi: int = SMALL_DPI) -> bytes | None:
    """The report's loss-curve figure (:func:`.plots.loss_curves`) of a fitted estimator as a
    small PNG, or ``None`` without a history."""
    history = list(getattr(est, "history_", None) or [])
    if not history:
        return None
    from . import plots

    def column(key: str) -> list[float]:
        return [math.nan if row.get(key) is None else float(row[key]) for row in history]

    val = column("val_loss")
    run = getattr(est, "run_", None)
    fig = plots.loss_curves([int(row["epoch"]) for row in history], column("train_loss"),
                            val if any(math.isfinite(v) for v in val) else None, getattr(est, "best_epoch_", None),
                            initial_loss=getattr(run, "initial_loss", None),
                            loss_name=getattr(getattr(est, "loss_", None), "name", None) or "loss")
    return plots.to_png(fig, dpi=dpi)


def _resolved_line(est: Any) -> str:
    """What the ``"auto"`` settings became in the fit: ``hidden: auto → [64, 64]``."""
    from .html import param_text
    from .runfolder import resolved_settings

    try:
        resolved = resolved_settings(est)
    except AttributeError:  # an estimator without spec_ or n_train_ (not fitted through fit)
        return ""
    params = est.get_params(deep=False)
    parts = [f"<code>{_esc(k)}: {_esc(param_text(k, v, resolved))}</code>"
             for k, v in params.items() if isinstance(v, str) and v == "auto" and k in resolved]
    return f'<p style="margin:4px 0">Settings chosen by <code>"auto"</code>: {", ".join(parts)}</p>' if parts else ""


def _where(est: Any) -> str:
    path = getattr(est, "report_path_", None)
    if path:
        return (f'<p style="margin:4px 0">Run folder <code>{_esc(Path(path).parent)}</code>, report '
                f"<code>{_esc(path)}</code> (<code>est.show_report()</code> shows it here).</p>")
    return ('<p style="margin:4px 0;opacity:.8">No run folder: pass <code>report="runs/name"</code> to keep one, '
            "or call <code>est.show_report()</code> to see the full report here.</p>")


def estimator_html(est: Any, diagram: str = "") -> str:
    """The notebook view of a fitted estimator.

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor
    diagram : str, optional
        scikit-learn's HTML diagram of the estimator (its parameters), put at the end.

    Returns
    -------
    str
        An HTML fragment.
    """
    name = type(est).__name__
    spec = getattr(est, "spec_", None)
    network = ""
    if spec is not None:
        network = f" · {_esc(spec.kind)} {_esc(list(spec.input_shape))} → hidden {_esc(list(spec.hidden))} → {_esc(spec.n_outputs)}"
    head = f'<div style="margin-bottom:6px"><b>{_esc(name)}</b>, fitted{network}</div>'
    if not getattr(est, "diagnostics", True):
        empty = "No findings: fitted with diagnostics=False."
    elif getattr(est, "run_", None) is None and not getattr(est, "findings_", None):
        empty = "No findings to show (a model read with trainwell.load does not carry them; its run folder's report does)."
    else:
        empty = "No findings: the diagnostics found nothing to report."
    findings = findings_html(list(getattr(est, "findings_", None) or []), empty=empty)
    png = loss_png(est)
    body = _side_by_side(findings, _image(png, "training and validation loss per epoch"))
    return (f'<div class="trainwell-estimator" style="{_BOX}">{head}<div>{tiles(headline(est))}</div>{body}'
            f"{_resolved_line(est)}{_where(est)}{diagram}</div>")


# ------------------------------------------------------------------ compare and tune results
def compare_html(result: Any, png: bytes | None = None) -> str:
    """The notebook view of a :class:`~trainwell.compare.CompareResult`: each model's mean score,
    the verdict, the warnings, the per-model table and (``png``) the paired per-fold plot."""
    summary = result.summary
    items = [(f"{model}: mean {result.metric}", f"{row['mean']:.4f}" + (f" ± {row['std']:.4f}" if _number(row["std"]) else ""))
             for model, row in summary.iterrows()]
    winner = result.winner
    items.append(("significantly best", winner if winner is not None else "none shown"))
    items.append((f"{result.scores.index.name or 'fold'}s", str(len(result.scores))))
    verdict = "".join(f'<p style="margin:4px 0">{_esc(line)}</p>' for line in result.verdict.splitlines())
    warnings = "".join(f'<p style="margin:4px 0"><b>Note:</b> {_esc(w)}</p>' for w in result.warnings)
    table = summary.to_html(float_format=lambda v: f"{v:.4f}", border=0, escape=True)
    left = f"{verdict}{warnings}{table}"
    unit = result.scores.index.name or "fold"
    return (f'<div class="trainwell-compare" style="{_BOX}"><div style="margin-bottom:6px"><b>Comparison</b> of '
            f"{_esc(', '.join(result.names))} on {_esc(result.design)}; {_esc(result.metric)}, higher is better</div>"
            f"<div>{tiles(items)}</div>{_side_by_side(left, _image(png, f'{result.metric} of each model on each {unit}'))}</div>")


def param_text(v: Any, digits: int = 4) -> str:
    """A parameter's value as short text: floats to ``digits`` significant digits, tuples as ``a,b``."""
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    if isinstance(v, tuple):
        return ",".join(map(str, v))
    return str(v)


def tune_html(result: Any, png: bytes | None = None, better: str = "") -> str:
    """The notebook view of a :class:`~trainwell.tune.TuneResult`: the best score and settings,
    the trials, the border warnings and notes, where the run folder is, and (``png``) the
    best-so-far plot."""
    trials = result.trials
    states = trials["state"].value_counts().to_dict() if len(trials) else {}
    items = [(f"best validation {result.metric}" + (f" ({better} is better)" if better else ""), f"{result.best_score:.4f}"),
             ("trials (complete / pruned / failed)",
              f"{states.get('COMPLETE', 0)} / {states.get('PRUNED', 0)} / {states.get('FAIL', 0)}"),
             ("search time", f"{result.seconds:.1f} s")]
    rows = "".join(f"<tr><th style='text-align:left'>{_esc(k)}</th><td style='text-align:left'><code>{_esc(param_text(v))}</code></td></tr>"
                   for k, v in result.best_params.items())
    left = [f"<b>Best settings</b><table>{rows}</table>"]
    left += [f'<p style="margin:4px 0"><b>Border warning:</b> {_esc(w)}</p>' for w in result.warnings]
    left += [f'<p style="margin:4px 0"><b>Note:</b> {_esc(n)}</p>' for n in result.notes]
    confirmation = getattr(result, "confirmation", None)
    if confirmation is not None:
        left.append(f'<p style="margin:4px 0"><b>Confirmation:</b> {_esc(confirmation.verdict)}</p>')
    if result.best_estimator is not None:
        left.append('<p style="margin:4px 0"><code>result.best_estimator</code> is refit on all the data with them.</p>')
    if result.run_dir is not None:
        report = f", report <code>{_esc(result.report_path)}</code>" if result.report_path else ""
        left.append(f'<p style="margin:4px 0">Run folder <code>{_esc(result.run_dir)}</code>{report}.</p>')
    return (f'<div class="trainwell-tune" style="{_BOX}"><div style="margin-bottom:6px"><b>Hyperparameter search</b>, '
            f"trials stored: <code>{_esc(result.storage)}</code></div><div>{tiles(items)}</div>"
            f"{_side_by_side(''.join(left), _image(png, 'validation score of each trial and the best so far'))}</div>")


# ------------------------------------------------------------------ the full report, inline
class ReportView:
    """A run's report, shown inline in Jupyter (what ``est.show_report()`` returns).

    Attributes
    ----------
    html : str
        The whole ``report.html`` page.
    path : Path or None
        Where the page is on disk (``None`` when it was built for display only).
    height : int
        Height of the inline frame in pixels.
    """

    def __init__(self, page: str, path: Path | None = None, height: int = 900) -> None:
        self.html = page
        self.path = path
        self.height = int(height)

    def _repr_html_(self) -> str:
        # The page goes into srcdoc (escaped as an attribute value): its style sheet stays inside the frame.
        return (f'<iframe srcdoc="{_esc(self.html)}" style="width:100%;height:{self.height}px;border:1px solid '
                f'rgba(127,127,127,.35)" title="trainwell report"></iframe>')

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path is not None else ""
        return f"<trainwell report{where}: {len(self.html):,} characters of HTML>"


def report_view(est: Any, X_test: Any = None, y_test: Any = None, height: int = 900) -> ReportView:
    """The full report of a fitted estimator, for display in a notebook.

    With a run folder (``report=`` given to the estimator) and no test rows, that folder's
    ``report.html`` is shown. Otherwise the run folder is written to a temporary folder, its
    report read, and the folder removed: nothing is left on disk.

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor
    X_test, y_test : array-like, optional
        Held-out rows for the report's test section (confusion matrix or predicted vs true).
    height : int, default=900
        Height of the inline frame in pixels.

    Returns
    -------
    ReportView
    """
    from .html import REPORT
    from .runfolder import save_run

    path = getattr(est, "report_path_", None)
    if path is not None and X_test is None and Path(path).is_file():
        return ReportView(Path(path).read_text(encoding="utf-8"), Path(path), height)
    scratch = Path(tempfile.mkdtemp(prefix="trainwell-report-"))
    run_dir = scratch / type(est).__name__
    try:
        save_run(est, run_dir, X_test, y_test, source=f"{type(est).__name__} (not saved)")
        page = (run_dir / REPORT).read_text(encoding="utf-8")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # the header names the run folder, which is gone now: say so instead of a dead path
    page = page.replace(f"run folder {_esc(run_dir)}", "no run folder (pass report= to the estimator to keep one)")
    return ReportView(page, None, height)
