"""One self-contained ``report.html`` per run folder: plots as embedded PNG, no external files.

The page has no script and no external style sheet, font or image: it opens offline, from a
mail attachment or a CI artifact. It answers a practitioner's questions in the order they are
asked: how good is the model (the headline metrics, the best epoch and why training stopped),
what should change (the findings, ranked) and where it fails (the test split: the confusion
matrix with each class's precision and recall, or predicted against true with the residuals),
side by side on the first screen; then the learning curves. The per-layer internals, the step
timing and the versions follow, folded in ``<details>`` (opened where a finding points into
them). Findings are listed once, ranked, at the top, and again beside the plot that shows
their evidence (:data:`EVIDENCE`).

Over 400 lines on purpose: one page, its sections and its style sheet are read and changed
together (a section's HTML, the CSS it relies on and the place it is put in); the figures
live in :mod:`.plots`, the reading of the run folder in :mod:`.record`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._files import write_file_atomic
from .._version import __version__
from .record import RunRecord, load_run

REPORT = "report.html"

#: Which section shows the evidence of each finding code (codes of trainwell.diagnose).
EVIDENCE: dict[str, str] = {
    "diverged": "loss", "overfitting": "loss", "init_loss_off": "loss", "init_loss_ok": "loss",
    "cannot_overfit_small_batch": "loss", "overfit_small_batch_ok": "loss",
    "regularization_ok": "loss", "regularization_not_effective": "loss",
    "underfitting": "metric", "validation_at_chance": "metric",
    "lr_too_high": "update_ratio", "lr_too_low": "update_ratio",
    "update_ratio_high": "update_ratio", "update_ratio_low": "update_ratio",
    "exploding_gradients": "scale", "vanishing_gradients": "scale", "regularization_too_strong": "scale",
    "dead_relu": "units", "saturated_units": "units",
    "sigmoid_hidden_activation": "activations",
    "symmetric_weights": "first_layer",
    "class_imbalance": "test", "targets_out_of_range": "test", "train_test_overlap": "data",
    "missing_values": "data", "missing_filled": "data", "constant_features": "data", "inputs_not_scaled": "data",
}

NO_MONITORS = ("No per-layer statistics were recorded for this run: they come from the diagnostics "
               "monitors, which the estimators attach unless diagnostics=False.")


@dataclass
class Section:
    """One block of the report: a title, a short guide, a figure or a note, and its findings."""

    key: str
    title: str
    guide: str
    png: bytes | None = None
    alt: str = ""
    note: str | None = None
    body: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------ helpers
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk of every PNG
    return width, height


def _img(png: bytes, alt: str) -> str:
    width, height = _png_size(png)
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" width="{width}" height="{height}" alt="{_esc(alt)}">'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    if value is None:
        return "–"
    return str(value)


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(_fmt(v))}</td></tr>" for k, v in rows)
    return f'<table class="kv">{cells}</table>'


def _finite_any(values: list[Any]) -> bool:
    return any(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


# ------------------------------------------------------------------ sections
def _loss_section(rec: RunRecord, plots) -> Section:
    s = Section("loss", "Loss", "Training and validation loss per epoch. Validation rising while training "
                "falls is overfitting; the dashed line is the epoch whose weights early stopping kept.")
    if not rec.history:
        s.note = "This run has no history."
        return s
    run = rec.diagnostics.get("run", {})
    expected = None
    loss_name = run.get("loss") or rec.model.get("loss") or "loss"
    if rec.classification and rec.class_names:
        from ..diagnose.expectations import expected_initial_loss

        expected = expected_initial_loss(loss_name, len(rec.class_names))
    val = rec.column("val_loss") if rec.has("val_loss") else None
    fig = plots.loss_curves(rec.epochs, rec.column("train_loss"), val, rec.best_epoch,
                            run.get("initial_loss"), expected, loss_name)
    s.png, s.alt = plots.to_png(fig), "training and validation loss per epoch"
    return s


def _metric_section(rec: RunRecord, plots) -> Section:
    label = "accuracy" if rec.classification else "R²"
    s = Section("metric", label[0].upper() + label[1:], f"Training and validation {label} per epoch.")
    train, val = rec.column(f"train_{rec.metric}"), rec.column(f"val_{rec.metric}")
    if not (_finite_any(train) or _finite_any(val)):
        s.note = f"No {label} was recorded for this run."
        return s
    n_classes = len(rec.class_names) or None
    chance = 1.0 / n_classes if rec.classification and n_classes else None
    if not rec.classification:
        s.note, drawable = r2_note(train, val)
        if not drawable:
            return s
    fig = plots.metric_curves(rec.epochs, train, val if _finite_any(val) else None, rec.best_epoch, label, chance)
    s.png, s.alt = plots.to_png(fig), f"training and validation {label} per epoch"
    return s


def _sci(value: float) -> str:
    """``-1000000.0`` as ``−1.0e6``: a number far off a chart's scale, short and exact enough."""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}".replace("-", "−")
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10**exponent
    if round(abs(mantissa), 1) >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.1f}e{exponent}".replace("-", "−")


def r2_note(train: list[float], val: list[float]) -> tuple[str | None, bool]:
    """What the R² chart (drawn from −1 to 1) cannot show, in words, and whether to draw it at all.

    Returns
    -------
    note : str or None
        ``None`` when every R² fits the chart.
    drawable : bool
        ``False`` when no epoch's R² reaches −1: the chart would be empty.
    """
    values = [v for v in list(train) + list(val) if math.isfinite(v)]
    if not values or min(values) >= -1:
        return None, True
    lowest = _sci(min(values))
    last = next((v for v in reversed(val) if math.isfinite(v)), None)
    tail = f", last validation R² {_sci(last)}" if last is not None else ""
    if max(values) < -1:
        return (f"R² fell to {lowest}{tail}: off this chart's scale (−1 to 1), so it is not drawn. Below 0 the "
                "model predicts worse than the mean of the targets; far below, it is diverging or the targets "
                "are on a very different scale from the predictions."), False
    return (f"R² fell to {lowest} in some epochs: below −1, off this chart's scale, so those epochs are "
            "cut off at the bottom edge."), True


def _lr_section(rec: RunRecord, plots) -> Section:
    s = Section("lr", "Learning-rate schedule", "The learning rate in effect in each epoch.")
    if not rec.has("lr"):
        s.note = "No learning rate was recorded for this run."
        return s
    lr = [v for v in rec.column("lr") if math.isfinite(v)]
    if min(lr) == max(lr):  # a flat line says nothing a sentence cannot
        schedule = (rec.config.get("params") or rec.model.get("params") or {}).get("lr_schedule", "none")
        s.note = f"Constant learning rate {lr[0]:g} for all {len(rec.history)} epochs (lr_schedule={schedule!r})."
        return s
    s.png, s.alt = plots.to_png(plots.lr_schedule(rec.epochs, rec.column("lr"), rec.best_epoch)), "learning rate per epoch"
    return s


def _series(rec: RunRecord, key: str, layers: list[str] | None = None) -> dict[str, list[Any]]:
    out = {}
    for name, info in rec.layers.items():
        values = info.get("series", {}).get(key)
        if values and _finite_any(values) and (layers is None or name in layers):
            out[name] = [math.nan if v is None else v for v in values]
    return out


def _layer_epochs(rec: RunRecord) -> list[int]:
    return rec.epochs


def _update_section(rec: RunRecord, plots) -> Section:
    from ..diagnose.advice import UPDATE_RATIO_HIGH, UPDATE_RATIO_LOW

    s = Section("update_ratio", "Update / weight ratio per layer",
                "How far each step moves a layer's weights, relative to their size (log axis). "
                "Near 1e-3 is healthy (cs231n); far above, the learning rate is too high; far below, too low. "
                f"Dotted lines: where trainwell's advice speaks up ({UPDATE_RATIO_LOW:g} and {UPDATE_RATIO_HIGH:g}).")
    ratios = _series(rec, "update_ratio")
    if not ratios:
        s.note = NO_MONITORS
        return s
    fig = plots.update_ratios(_layer_epochs(rec), ratios, limits=(UPDATE_RATIO_LOW, UPDATE_RATIO_HIGH))
    s.png, s.alt = plots.to_png(fig), "update to weight ratio per layer, log scale"
    return s


def _scale_section(rec: RunRecord, plots) -> Section:
    s = Section("scale", "Gradient and weight size per layer",
                "Root-mean-square of each layer's weight gradient and of its weights. Gradients that shrink "
                "layer by layer towards the input vanish; weights that shrink steadily are over-regularised.")
    grads, weights = _series(rec, "grad_rms"), _series(rec, "weight_rms")
    if not (grads or weights):
        s.note = NO_MONITORS
        return s
    s.png, s.alt = plots.to_png(plots.gradient_weight_scale(_layer_epochs(rec), grads, weights)), "gradient and weight rms per layer"
    return s


def _hists(rec: RunRecord, key: str) -> dict[str, list[dict[str, Any]]]:
    return {name: info["hist"][key] for name, info in rec.layers.items() if info.get("hist", {}).get(key)}


def _activation_section(rec: RunRecord, plots) -> Section:
    s = Section("activations", "Activation distributions per layer",
                "Each column is one epoch's distribution of a hidden layer's outputs (after the non-linearity); "
                "brighter means more values. A layer collapsing to zero, or piling up at the ends of a tanh or "
                "sigmoid, has stopped passing signal.")
    hists = _hists(rec, "act_hist")
    if not hists:
        s.note = NO_MONITORS
        return s
    means = _series(rec, "act_mean")
    fig = plots.distributions(hists, "activation", means, _layer_epochs(rec))
    s.png, s.alt = plots.to_png(fig), "activation distributions per layer over epochs"
    return s


def _gradient_section(rec: RunRecord, plots) -> Section:
    s = Section("gradients", "Gradient distributions per layer",
                "Each column is one epoch's distribution of a layer's weight gradients on the sampled steps.")
    hists = _hists(rec, "grad_hist")
    if not hists:
        s.note = NO_MONITORS
        return s
    s.png, s.alt = plots.to_png(plots.distributions(hists, "gradient")), "gradient distributions per layer over epochs"
    return s


def _units_section(rec: RunRecord, plots) -> Section:
    from ..diagnose.advice import DEAD, SATURATED

    s = Section("units", "Dead and saturated units",
                "Share of ReLU units that never fired on the sampled batches of an epoch (dead), and of "
                "tanh/sigmoid outputs in their flat tails (saturated), per layer. Neither passes gradient.")
    dead, saturated = _series(rec, "dead_fraction"), _series(rec, "saturated_fraction")
    if not (dead or saturated):
        s.note = NO_MONITORS
        return s
    dead, dead_words = unit_words(dead, "dead units", "every ReLU unit fired on the sampled batches of every epoch")
    saturated, sat_words = unit_words(saturated, "saturated outputs",
                                      "no tanh/sigmoid output sat in a flat tail in any epoch")
    s.note = " ".join(w for w in (dead_words, sat_words) if w) or None
    if dead or saturated:
        fig = plots.unit_health(_layer_epochs(rec), dead, saturated, DEAD, SATURATED)
        s.png, s.alt = plots.to_png(fig), "dead and saturated units per layer"
    return s


#: Below this share in every epoch, a layer's dead or saturated units are a sentence, not a flat line.
FLAT = 0.01


def unit_words(series: dict[str, list[float]], what: str, none_means: str) -> tuple[dict[str, list[float]], str]:
    """Split per-layer shares of dead (or saturated) units into the layers worth a plot and a sentence.

    A layer whose share stays under :data:`FLAT` in every epoch would draw a flat line at zero
    that says nothing; it is told in words instead ("No dead units in dense1, dense2: ...").

    Returns
    -------
    plotted : dict
        The layers to draw.
    words : str
        The sentence for the others (empty when there are none).
    """
    peaks = {name: max((v for v in values if math.isfinite(v)), default=0.0) for name, values in series.items()}
    flat = [name for name, peak in peaks.items() if peak < FLAT]
    plotted = {name: values for name, values in series.items() if name not in flat}
    if not flat:
        return plotted, ""
    layers = ", ".join(flat)
    top = max(peaks[name] for name in flat)
    if top == 0:
        return plotted, f"No {what} in {layers}: {none_means}."
    return plotted, f"Almost no {what} in {layers}: at most {top:.1%} in any epoch."


def _image_shape(rec: RunRecord, width: int) -> tuple[int, ...] | None:
    """The image shape a flat first-layer row folds into, or ``None`` for tabular inputs."""
    features = rec.model.get("features", {})
    shape = tuple(int(v) for v in features.get("sample_shape") or ())
    if len(shape) >= 2 and int(np.prod(shape)) == width:
        return shape
    side = int(round(math.sqrt(width)))
    pixels = features.get("scaling") == "global" and not features.get("categories")
    if pixels and side * side == width and width >= 64:
        return (side, side)
    return None


def _first_layer_section(rec: RunRecord, plots) -> Section:
    s = Section("first_layer", "First layer", "")
    w = rec.first_layer
    if w is None:
        s.note = "The model folder holds no first-layer weights."
        return s
    if w.ndim >= 3:
        s.guide = ("The first convolution's filters after training. Useful filters look like edges, blobs or "
                   "colour contrasts; noise-like filters mean the layer learnt little.")
        s.png, s.alt = plots.to_png(plots.first_layer_images(w)), "first-layer convolution filters"
        return s
    shape = _image_shape(rec, w.shape[1])
    if shape is not None:
        s.guide = ("Each tile is one first-layer unit's weights laid out like the input image. Smooth strokes "
                   "and blobs are features the unit detects; salt-and-pepper noise means it learnt little.")
        tiles = w.reshape((w.shape[0], *shape))
        s.png, s.alt = plots.to_png(plots.first_layer_images(tiles)), "first-layer weights drawn as images"
        return s
    s.guide = ("First-layer weights per input feature (inputs are standardised, so weights compare across "
               "features). Features with near-zero weights are barely used.")
    fig = plots.first_layer_table(w, rec.encoded_feature_names(), init_norm=_init_norm(rec, w.shape))
    s.png, s.alt = plots.to_png(fig), "heat map of first-layer weights per feature"
    return s


def _init_norm(rec: RunRecord, shape: tuple[int, ...]) -> float | None:
    """A first-layer feature's expected weight norm at initialisation (He and Xavier, as ``nn.init``)."""
    units, fan_in, spec = shape[0], shape[1], rec.spec
    if not spec.get("hidden"):
        return 0.1 * math.sqrt(units / fan_in)  # the first layer is the output layer: a tenth of Xavier
    if spec.get("init") == "he":
        slope = spec.get("activation_param") or 0.0
        return math.sqrt(2.0 * units / ((1.0 + slope**2) * fan_in))
    if spec.get("init") == "xavier":
        return math.sqrt(units / fan_in)
    return None


#: Up to this many classes the confusion matrix is an HTML table (exact, searchable, free to draw).
TABLE_CLASSES = 20


def per_class(matrix: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each class's precision, recall and test rows from a confusion matrix (rows true, columns predicted).

    A class never predicted has precision ``nan`` (0/0), one absent from the test rows recall ``nan``.
    """
    m = np.asarray(matrix, dtype=float)
    hits, predicted, support = np.diag(m), m.sum(axis=0), m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / predicted, hits / support, support


def _share(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.2f}"


def _confusion_table(matrix: list[list[int]], labels: list[str]) -> str:
    """A confusion matrix as a shaded HTML table: counts in the cells, colour the share of the true class.

    Each row ends with the class's test rows and its recall; the row under the matrix holds
    each predicted class's precision.
    """
    m = np.asarray(matrix, dtype=float)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    precision, recall, _ = per_class(matrix)
    head = "".join(f"<th>{_esc(label)}</th>" for label in labels)
    rows = []
    for i, label in enumerate(labels):
        cells = []
        for j in range(len(labels)):
            alpha = 0.08 + 0.92 * share[i, j] if m[i, j] else 0.0
            colour = "#fff" if share[i, j] > 0.55 else "inherit"
            style = f"background:rgba(21,101,192,{alpha:.2f});color:{colour}" if m[i, j] else ""
            cls = ' class="diag"' if i == j else ""
            cells.append(f'<td{cls} style="{style}">{int(m[i, j]) if m[i, j] else ""}</td>')
        rows.append(f"<tr><th>{_esc(label)}</th>{''.join(cells)}<td class=\"total\">{int(m[i].sum())}</td>"
                    f'<td class="pr">{_share(recall[i])}</td></tr>')
    under = "".join(f'<td class="pr">{_share(v)}</td>' for v in precision)
    return ('<table class="confusion"><caption>rows: true class, columns: predicted class</caption>'
            f'<tr><th></th>{head}<th class="total">rows</th><th class="pr">recall</th></tr>{"".join(rows)}'
            f'<tr class="precision"><th class="pr">precision</th>{under}</tr></table>')


def _mistake_words(matrix: list[list[int]], labels: list[str]) -> str:
    """The most frequent mistake, in words."""
    m = np.asarray(matrix, dtype=float)
    off = m.copy()
    np.fill_diagonal(off, 0)
    if not off.any():
        return f"No mistakes on the {int(m.sum())} test rows."
    i, j = np.unravel_index(int(np.argmax(off)), off.shape)
    return (f"Most frequent mistake: true class {labels[i]} predicted as {labels[j]}, {int(off[i, j])} test rows "
            f"({off[i, j] / max(m[i].sum(), 1):.0%} of class {labels[i]}).")


def _worst_classes(matrix: list[list[int]], labels: list[str], n: int = 10) -> str:
    """A table of the ``n`` classes with the lowest recall (for matrices drawn as a picture)."""
    precision, recall, support = per_class(matrix)
    order = np.argsort(np.nan_to_num(recall, nan=2.0), kind="stable")[:n]
    rows = "".join(f"<tr><td>{_esc(labels[i])}</td><td>{_share(precision[i])}</td><td>{_share(recall[i])}</td>"
                   f"<td>{int(support[i])}</td></tr>" for i in order)
    return (f'<table class="kv num"><caption>the {len(order)} classes with the lowest recall</caption>'
            f"<tr><th>class</th><th>precision</th><th>recall</th><th>test rows</th></tr>{rows}</table>")


def _test_section(rec: RunRecord, plots) -> Section:
    ev = rec.evaluation
    if rec.classification:
        s = Section("test", "Confusion matrix (test split)",
                    "Rows are the true classes, columns the predicted ones; each cell counts test rows, its colour is "
                    "their share of the true class. Off-diagonal cells are the mistakes. Recall: the share of a true "
                    "class predicted right; precision: the share of a predicted class that was right.")
        if not ev.get("confusion"):
            s.note = "No test-split predictions were saved with this run."
            return s
        s.note = _mistake_words(ev["confusion"], ev["labels"])
        if len(ev["labels"]) <= TABLE_CLASSES:
            s.body = _confusion_table(ev["confusion"], ev["labels"])
        else:
            s.png, s.alt = plots.to_png(plots.confusion(ev["confusion"], ev["labels"])), "confusion matrix on the test split"
            s.body = _worst_classes(ev["confusion"], ev["labels"])
        return s
    s = Section("test", "Predicted vs true (test split)",
                "Each point is one test row; on the left the dashed line is a perfect prediction, on the right "
                "the residuals should scatter evenly around zero (a trend or a funnel is a pattern the model missed).")
    if not ev.get("y_true"):
        s.note = "No test-split predictions were saved with this run."
        return s
    s.png, s.alt = plots.to_png(plots.predicted_vs_true(ev["y_true"], ev["y_pred"])), "predicted against true values on the test split, and the residuals"
    return s


def _data_section(rec: RunRecord) -> Section:
    s = Section("data", "Data", "What the model was trained and tested on.")
    data = rec.diagnostics.get("data", {})
    cfg, training = rec.config, rec.training
    n_train = cfg.get("n_train", data.get("n_train", training.get("n_train")))
    n_val = cfg.get("n_val", data.get("n_val", training.get("n_val")))
    n_test = cfg.get("n_test", data.get("n_test", rec.test_metrics.get("n_test")))
    parts = [v for v in (n_train, n_val, n_test) if isinstance(v, int)]
    features = rec.model.get("features", {})
    rows: list[tuple[str, Any]] = [
        ("source", cfg.get("source")),
        ("rows", sum(parts) if parts else None),
        ("training rows", n_train),
        ("validation rows (early stopping)", n_val),
        ("test rows", n_test),
        ("input columns", rec.model.get("n_features_in")),
        ("network inputs (after one-hot)", int(np.prod(features.get("sample_shape") or [0])) or None),
        ("sample shape", tuple(features.get("sample_shape") or ())),
        ("input scaling", features.get("scaling")),
        ("training augmentation", cfg.get("augmentation")),
    ]
    classes = rec.class_names
    if classes:
        shown = ", ".join(classes[:20]) + (" …" if len(classes) > 20 else "")
        rows.append(("classes", f"{len(classes)}: {shown}"))
    counts = data.get("test_class_counts")
    if counts:
        rows.append(("test rows per class", ", ".join(f"{k}: {v}" for k, v in list(counts.items())[:20])))
    s.body = _table(rows)
    return s


def _config_section(rec: RunRecord) -> Section:
    s = Section("config", "Configuration", "The exact settings of this run, as saved in the run folder.")
    params = rec.config.get("params") or rec.model.get("params") or {}
    spec = rec.spec
    run = rec.diagnostics.get("run", {})
    summary = [
        ("estimator", rec.config.get("estimator") or rec.model.get("estimator")),
        ("network", f"{spec.get('kind')} {spec.get('input_shape')} → hidden {spec.get('hidden')} → {spec.get('n_outputs')}"
         if spec else None),
        ("conv blocks", spec.get("conv") or None),
        ("stopped", rec.training.get("stop_reason") or run.get("stop_reason")),
        ("steps per epoch", run.get("steps_per_epoch")),
    ]
    fast = run.get("fast_path")
    if isinstance(fast, dict):
        summary.append(("fast MLP step", "used" if fast.get("used") else f"not used: {fast.get('reason')}"))
    graphs = run.get("cuda_graphs")
    if isinstance(graphs, dict) and (graphs.get("used") or "CUDA" not in str(graphs.get("reason"))):
        summary.append(("CUDA graphs", f"used ({graphs.get('replays', 0):,} replayed steps)" if graphs.get("used")
                        else f"not used: {graphs.get('reason')}"))
    params_html = "".join(f"<div><span>{_esc(k)}</span> <code>{_esc(param_text(k, v, rec.resolved))}</code></div>"
                          for k, v in params.items())
    full = json.dumps(rec.config or {"params": params, "spec": spec}, indent=2, default=str)
    s.body = (_table([r for r in summary if r[1] is not None]) + f'<h3>Parameters</h3><div class="params">{params_html}</div>'
              + f"<details><summary>config.json</summary><pre>{_esc(full)}</pre></details>")
    return s


def param_text(name: str, value: Any, resolved: dict[str, Any]) -> str:
    """A parameter as the configuration shows it: ``auto → 32`` where ``"auto"`` was resolved in the fit."""
    def text(v: Any) -> str:
        if isinstance(v, list) and not v:
            return "none"
        return _fmt(json.dumps(v) if isinstance(v, (list, dict)) else v)

    if value == "auto" and name in resolved:
        return f"auto → {text(resolved[name])}"
    return text(value)


def _environment_section(rec: RunRecord) -> Section:
    s = Section("environment", "Versions", "The software the run was trained with.")
    env = rec.diagnostics.get("environment", {})
    versions = dict(env.get("versions", {}))
    if not versions:
        versions = {"trainwell": rec.config.get("trainwell_version") or rec.model.get("trainwell_version")}
    rows = list(versions.items())
    rows += [("platform", env.get("platform")), ("device", env.get("device_name") or env.get("device"))]
    from importlib import metadata

    rows.append(("report built with", f"trainwell {__version__}, matplotlib {metadata.version('matplotlib')}"))
    s.body = _table([r for r in rows if r[1] is not None])
    return s


def _speed_section(rec: RunRecord, plots) -> Section:
    from ..diagnose.speed import step_time_advice

    s = Section("speed", "Where a training step's time goes",
                "A window of this run's own training steps, timed by the clock and then under PyTorch's profiler: "
                "the matrix multiplies (the arithmetic), the optimizer update, gathering batches, every other "
                "operation, and the time no operation accounts for (Python between operations; on a GPU, "
                "the time it sat idle).")
    result = rec.diagnostics.get("run", {}).get("step_time")
    if not result:
        s.note = "This run was not timed step by step (estimators time their steps when they write a report)."
        return s
    advice = step_time_advice(result)
    s.note = " ".join(advice)
    if "reason" in result:
        return s
    parts = {k: float(v) for k, v in result.get("parts", {}).items()}
    s.png, s.alt = plots.to_png(plots.step_time(parts)), "one training step split into its parts"
    wall = float(result.get("step_seconds") or 0.0) or 1.0
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{v * 1e3:.3f}</td><td>{v / wall:.0%}</td></tr>" for k, v in parts.items())
    top = "".join(f"<tr><td><code>{_esc(t.get('name'))}</code></td><td>{_esc(t.get('part'))}</td>"
                  f"<td>{float(t.get('seconds', 0.0)) * 1e3:.3f}</td></tr>" for t in result.get("top", []))
    s.body = (f'<table class="kv num"><tr><th>part</th><th>ms per step</th><th>share</th></tr>{rows}</table>'
              f'<p class="guide">Measured over {result.get("steps")} steps; {_esc(result.get("clock", ""))}.</p>'
              f"<details><summary>The operations that took longest</summary><table class=\"kv num\">"
              f"<tr><th>operation</th><th>part</th><th>ms per step</th></tr>{top}</table></details>")
    return s


PLOT_SECTIONS: tuple[Callable[..., Section], ...] = (
    _loss_section, _metric_section, _lr_section, _update_section, _scale_section, _activation_section,
    _gradient_section, _units_section, _first_layer_section, _test_section, _speed_section,
)

#: Where the sections go after the headline, the findings and the test split (which share the
#: first screen): the curves open, then folded groups, the data and configuration, the versions.
CURVES = ("loss", "metric", "lr")
FOLDED = (("internals", "Inside the network", "", ("update_ratio", "scale", "activations", "gradients", "units", "first_layer")),
          ("timing", "Speed", "where a training step's time goes", ("speed",)))
FACTS = ("data", "config")
VERSIONS = ("versions", "Versions", "the software the run was trained with", ("environment",))


# ------------------------------------------------------------------ page
_CSS = """
:root{--fg:#1d2330;--muted:#5b6475;--line:#e3e6ec;--bg:#f6f7f9;--err:#c62828;--warn:#b26a00;--info:#1565c0}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#1d2330;color:#fff;padding:20px 32px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#c8cdd8}
main{max-width:1240px;margin:0 auto;padding:20px 24px 48px}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:110px}
.tile b{display:block;font-size:22px}.tile span{color:var(--muted);font-size:13px}.tile.why{flex:1 1 220px}h2 .count{font-size:14px;font-weight:400;color:var(--muted);margin-left:6px}.tile.why span{display:block;line-height:1.3}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:16px 0;min-width:0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:0 16px;align-items:start}.grid section.wide{grid-column:1/-1}
section.slim{padding:10px 20px;margin:0 0 16px}section.slim h2{display:inline;font-size:16px;margin-right:10px}
section.slim p{display:inline;margin:0}
.top{display:flex;gap:16px;align-items:flex-start;margin:16px 0}.top>section{margin:0}
.top>#findings{flex:1 1 420px;min-width:300px}.top>#test{flex:1 1 520px}
@media (max-width:900px){.top{flex-wrap:wrap}}
details.group{margin:16px 0}details.group>summary{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 20px;color:var(--fg)}
details.group>summary b{font-size:18px;margin-right:8px}details.group>summary span{color:var(--muted);font-size:14px}
details.group[open]>summary{margin-bottom:-4px}
.params{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:2px 16px;font-size:14px}
.params span{color:var(--muted)}
section h2{margin:0 0 4px;font-size:18px}.guide{color:var(--muted);margin:0 0 12px;max-width:900px}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}figure{margin:0;flex:0 1 auto;max-width:100%}
figure img{max-width:100%;height:auto;display:block}aside{flex:1 1 300px;min-width:280px}
.note{color:var(--muted);font-style:italic}
.finding{border-left:4px solid var(--info);background:#f4f8fd;padding:8px 12px;margin:0 0 10px;border-radius:4px}
.finding.warning{border-color:var(--warn);background:#fff8ec}.finding.error{border-color:var(--err);background:#fdf1f1}
.finding p{margin:4px 0}.finding p.because{margin-left:18px;font-size:13px}.because span{font-size:11px;text-transform:uppercase;color:var(--muted);margin-right:4px}p.finding.ref{margin:0 0 6px;padding:4px 10px}p.finding.ref a{font-size:13px;margin-left:6px}.finding .advice{font-weight:600}.advice span{font-size:11px;text-transform:uppercase;color:var(--muted);margin-right:4px}.badge{display:inline-block;font-size:11px;text-transform:uppercase;
letter-spacing:.04em;padding:1px 6px;border-radius:3px;color:#fff;background:var(--info);margin-right:6px}
.error .badge{background:var(--err)}.warning .badge{background:var(--warn)}code{font-size:13px}
ol.summary{padding-left:22px}ol.summary li{margin:6px 0}table.kv{border-collapse:collapse;font-size:14px}
table.kv th{text-align:left;font-weight:500;color:var(--muted);padding:3px 16px 3px 0;vertical-align:top}
table.kv td{padding:3px 16px 3px 0;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;word-break:break-word}
table.kv caption{caption-side:top;text-align:left;color:var(--muted);font-size:13px;padding-bottom:4px}
table.num td+td,table.num th+th{text-align:right}table.num td:last-child,table.num th:last-child{padding-right:0}
pre{background:var(--bg);padding:12px;overflow:auto;font-size:12px;border-radius:6px}details summary{cursor:pointer;color:var(--info)}
table.confusion{border-collapse:collapse;font-size:13px;margin:4px 0}table.confusion caption{caption-side:bottom;text-align:left;color:var(--muted);font-size:12px;padding-top:6px}
table.confusion th{font-weight:500;color:var(--muted);padding:3px 6px;max-width:110px;overflow-wrap:anywhere}
table.confusion td{min-width:34px;height:30px;padding:0 4px;text-align:center;border:1px solid var(--line);font-variant-numeric:tabular-nums}
table.confusion td.diag{font-weight:700}table.confusion .total{color:var(--muted);border:none}
table.confusion .pr{border:none;color:var(--fg);font-size:12px;padding:0 6px}table.confusion th.pr{color:var(--muted)}
table.confusion tr.precision td{height:24px}
nav{font-size:14px;color:var(--muted)}nav a{color:var(--info);text-decoration:none;margin-right:12px}
"""


def _finding_html(f: dict[str, Any], with_link: bool = False, sections: dict[str, str] | None = None) -> str:
    sev = f.get("severity", "info")
    evidence = f.get("evidence") or {}
    link = ""
    if with_link and sections is not None:
        key = EVIDENCE.get(f.get("code", ""))
        if key in sections:
            link = f' <a href="#{key}">see {_esc(sections[key])}</a>'
    advice = f'<p class="advice"><span>advice</span> {_esc(f["advice"])}</p>' if f.get("advice") else ""
    details = (f"<details><summary>evidence</summary><pre>{_esc(json.dumps(evidence, indent=1, default=str))}</pre></details>"
               if evidence and not with_link else "")
    # the symptoms this cause explains, indented under it (Finding.because)
    because = "".join(f'<p class="because"><span>because</span> <code>{_esc(g.get("code"))}</code> '
                      f'{_esc(g.get("message", ""))}</p>' for g in f.get("because") or ())
    return (f'<div class="finding {_esc(sev)}"><span class="badge">{_esc(sev)}</span><code>{_esc(f.get("code"))}</code>'
            f'<p>{_esc(f.get("message", ""))}{link}</p>{advice}{because}{details}</div>')


def _finding_ref(f: dict[str, Any]) -> str:
    """A finding in one line, beside a plot near the top where its full text is a screen above."""
    sev = f.get("severity", "info")
    return (f'<p class="finding ref {_esc(sev)}"><span class="badge">{_esc(sev)}</span><code>{_esc(f.get("code"))}</code> '
            f'<a href="#findings">advice in the findings</a></p>')


def _section_html(s: Section, wide: bool = False, near_top: bool = False) -> str:
    if near_top and s.note and not (s.png or s.body or s.findings):  # one sentence: one slim strip
        return (f'<section id="{s.key}" class="wide slim"><h2>{_esc(s.title)}</h2>'
                f'<p class="note">{_esc(s.note)}</p></section>')
    cls = ' class="wide"' if wide or (s.findings and not near_top) else ""
    parts = [f'<section id="{s.key}"{cls}><h2>{_esc(s.title)}</h2>']
    if s.guide:
        parts.append(f'<p class="guide">{_esc(s.guide)}</p>')
    figure = f'<figure>{_img(s.png, s.alt)}</figure>' if s.png else ""
    note = f'<p class="note">{_esc(s.note)}</p>' if s.note else ""
    finding = _finding_ref if near_top else _finding_html
    aside = f'<aside>{"".join(finding(f) for f in s.findings)}</aside>' if s.findings else ""
    parts.append(f'<div class="row">{figure}{note}{aside}</div>{s.body}</section>')
    return "".join(parts)


def _header(rec: RunRecord) -> str:
    cfg = rec.config
    title = f"trainwell report: {cfg.get('source') or rec.path.name}"
    task = cfg.get("task") or ("classification" if rec.classification else "regression")
    sub = f"{rec.config.get('estimator') or rec.model.get('estimator', '')}, {task}, run folder {rec.path}"
    return f"<header><h1>{_esc(title)}</h1><p>{_esc(sub)}</p></header>"


_TEST_NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "log_loss": "log loss",
               "r2": "R²", "rmse": "RMSE", "mae": "MAE"}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def headline(rec: RunRecord) -> list[tuple[str, str]]:
    """The headline numbers as (value, label): the test metrics, else validation's at the best epoch.

    Then the best epoch of all trained, why training stopped (:func:`stop_words`) and how long
    it took. (How many findings of each severity there are heads the findings.)
    """
    m = rec.test_metrics
    tiles = [(f"{m[k]:.4f}", f"test {name}") for k, name in _TEST_NAMES.items() if _number(m.get(k))]
    if tiles and _number(m.get("n_test")):
        tiles[0] = (tiles[0][0], f"{tiles[0][1]} ({int(m['n_test']):,} rows)")
    if not tiles and rec.history:
        row = next((r for r in rec.history if r.get("epoch") == rec.best_epoch), rec.history[-1])
        label = "accuracy" if rec.classification else "R²"
        tiles = [(f"{row[k]:.4f}", f"validation {name} at epoch {row.get('epoch')} (no test split)")
                 for k, name in ((f"val_{rec.metric}", label), ("val_loss", "loss")) if _number(row.get(k))]
    epochs = m.get("epochs") or rec.training.get("n_iter") or len(rec.history)
    tiles.append((f"{rec.best_epoch} of {epochs}" if rec.best_epoch is not None else str(epochs),
                  "best epoch of all trained"))
    tiles.append(stop_words(rec))
    if _number(m.get("fit_seconds")):
        tiles.append((f"{m['fit_seconds']:.1f} s", "training time"))
    return tiles


def stop_words(rec: RunRecord) -> tuple[str, str]:
    """Why training stopped: a short head ("early stopping") and the rest of the sentence."""
    reason = rec.training.get("stop_reason") or rec.diagnostics.get("run", {}).get("stop_reason")
    if not reason:
        epochs = rec.training.get("n_iter") or len(rec.history)
        limit = (rec.config.get("params") or rec.model.get("params") or {}).get("max_epochs")
        return ("max_epochs reached", f"trained all {epochs} epochs") if epochs == limit else ("finished", f"{epochs} epochs")
    head, _, rest = str(reason).partition(": ")
    return head, rest or "why training stopped"


def _tiles(rec: RunRecord) -> str:
    why = stop_words(rec)
    body = "".join(f'<div class="tile{" why" if (v, k) == why else ""}"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>'
                   for v, k in headline(rec))
    return f'<div class="tiles">{body}</div>'


def _findings_html(rec: RunRecord, unplaced: list[dict[str, Any]], titles: dict[str, str]) -> str:
    if rec.findings:
        items = "".join(f"<li>{_finding_html(f, True, titles)}</li>" for f in rec.findings)
        counts = ", ".join(f"{n} {sev}{'s' if n != 1 and sev != 'info' else ''}" for sev in ("error", "warning", "info")
                           if (n := sum(f.get("severity") == sev for f in rec.findings)))
        summary = (f'<section id="findings"><h2>Findings, most serious first <span class="count">{counts}</span></h2>'
                   f'<ol class="summary">{items}</ol>')
        return summary + "".join(_finding_html(f) for f in unplaced) + "</section>"
    if rec.diagnostics:
        return '<section id="findings"><h2>Findings</h2><p>The diagnostics found nothing to report.</p></section>'
    return ('<section id="findings"><h2>Findings</h2><p class="note">This run folder has no diagnostics.json, '
            "so there are no findings to show.</p></section>")


def _folded(key: str, title: str, blurb: str, sections: list[Section]) -> str:
    """A group of sections folded in ``<details>``, open when a finding points into it."""
    n = sum(len(s.findings) for s in sections)
    count = f" · {n} finding{'' if n == 1 else 's'} inside" if n else ""
    names = blurb or ", ".join(s.title for s in sections)
    grid = "".join(_section_html(s, len(sections) == 1) for s in sections)
    return (f'<details class="group" id="{key}"{" open" if n else ""}><summary><b>{_esc(title)}</b>'
            f'<span>{_esc(names)}{count}</span></summary><div class="grid">{grid}</div></details>')


def render(rec: RunRecord) -> str:
    """The report page of a run as one HTML string."""
    from . import plots

    sections = [make(rec, plots) for make in PLOT_SECTIONS]
    sections += [_data_section(rec), _environment_section(rec), _config_section(rec)]
    by_key = {s.key: s for s in sections}
    unplaced = []
    for f in rec.findings:
        key = EVIDENCE.get(f.get("code", ""))
        (by_key[key].findings if key in by_key else unplaced).append(f)
    titles = {s.key: s.title for s in sections}
    groups = [*FOLDED, VERSIONS]
    links = [("findings", "Findings"), ("test", titles["test"]), *((k, titles[k]) for k in CURVES[:2]),
             *((g[0], g[1]) for g in groups[:-1]), *((k, titles[k]) for k in FACTS), (VERSIONS[0], VERSIONS[1])]
    nav = "<nav>" + "".join(f'<a href="#{k}">{_esc(t)}</a>' for k, t in links) + "</nav>"
    top = f'<div class="top">{_findings_html(rec, unplaced, titles)}{_section_html(by_key["test"], near_top=True)}</div>'
    curves = f'<div class="grid">{"".join(_section_html(by_key[k], near_top=True) for k in CURVES)}</div>'
    folded = "".join(_folded(k, t, b, [by_key[x] for x in keys]) for k, t, b, keys in FOLDED)
    facts = f'<div class="grid">{"".join(_section_html(by_key[k], k == "config") for k in FACTS)}</div>'
    versions = _folded(*VERSIONS[:3], [by_key[x] for x in VERSIONS[3]])
    return _page("trainwell report: " + (rec.config.get("source") or rec.path.name), _header(rec),
                 f"{_tiles(rec)}{nav}{top}{curves}{folded}{facts}{versions}", "from the files of the run folder")


def _page(title: str, header: str, main: str, built_from: str = "", css: str = "") -> str:
    """The HTML page around a report: head with the CSS, header band, main column, build line."""
    built = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    origin = f" {_esc(built_from)}" if built_from else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_esc(title)}</title><link rel="icon" href="data:,"><style>{_CSS}{css}</style></head><body>'
        f"{header}<main>{main}"
        f'<p class="guide">Built {_esc(built)} by trainwell {_esc(__version__)}{origin}.</p></main></body></html>'
    )


def image_tag(png: bytes, alt: str) -> str:
    """An ``<img>`` element with ``png`` embedded as base64 data and its pixel size set.

    Public so that other self-contained pages (:mod:`trainwell.compare`'s report) embed their
    figures exactly as the run report does.
    """
    return _img(png, alt)


def standalone_page(title: str, subtitle: str, body: str, css: str = "") -> str:
    """A complete HTML page in the run report's style: header band, ``body`` inside ``<main>``.

    Parameters
    ----------
    title, subtitle : str
        Plain text for the header (escaped here).
    body : str
        HTML of the main column (already escaped by the caller); the report's CSS classes
        (``section``, ``tiles``, ``finding``, ``table.kv``, ``note``, ``guide``) apply.
    css : str, optional
        More style rules, appended to the report's.

    Returns
    -------
    str
        The page: no script, no external file, so it opens offline.
    """
    return _page(title, f"<header><h1>{_esc(title)}</h1><p>{_esc(subtitle)}</p></header>", body, css=css)


def build_report(run_dir: str | Path) -> Path:
    """(Re)build ``run_dir/report.html`` from the files of a run folder.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by ``trainwell fit`` or :func:`trainwell.report.save_run`.

    Returns
    -------
    Path
        The report file (written atomically: a reader never sees half a page).

    Raises
    ------
    DataError
        When ``run_dir`` is not a run folder or one of its files is damaged.
    """
    rec = load_run(run_dir)
    page = render(rec)
    target = rec.path / REPORT
    write_file_atomic(target, page.encode("utf-8"))
    return target
