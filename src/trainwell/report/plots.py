"""The report's figures: one function per figure, plain numbers in, a matplotlib Figure out.

Figures are built with the object API (``matplotlib.figure.Figure``) and rendered by the
Agg canvas, so drawing a report never touches pyplot's global state or the user's
interactive backend. :func:`to_png` turns a figure into PNG bytes.

Over 400 lines on purpose: one short function per figure of the report, side by side so
they share one look; none is long.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

TRAIN = "#1f77b4"
VAL = "#d62728"
BEST = "#2ca02c"
BAND = "#2ca02c"
LIMIT = "#7f7f7f"
DPI = 96
WIDTH = 6.0  # inches: 576 px, one card of the report


def to_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render ``fig`` with Agg to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _figure(height: float, width: float = WIDTH, left: float = 0.8, right: float = 0.15,
            top: float = 0.3, bottom: float = 0.5, wspace: float = 0.25, hspace: float = 0.45) -> Figure:
    """A figure with fixed margins in inches (matplotlib's automatic layouts cost ~0.1 s a figure)."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                        wspace=wspace, hspace=hspace)
    return fig


def _finite(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def _line(ax, epochs: Sequence[int], values: Sequence[float], **style: Any) -> None:
    """Plot ``values`` against ``epochs`` through the epochs that have a finite value.

    On short epochs the monitors record every few epochs (``diagnose/probes/base.py``);
    the epochs in between are NaN, and a plain ``ax.plot`` would break the line at each.
    """
    x, y = np.asarray(epochs, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(y)
    if keep.sum() < 30:  # few points: show where they are
        style.setdefault("marker", ".")
    ax.plot(x[keep], y[keep], **style)


def _mark_best(ax, best_epoch: int | None) -> None:
    if best_epoch is not None:
        ax.axvline(best_epoch, color=BEST, linestyle="--", linewidth=1.2, label=f"best epoch {best_epoch}")


def _layer_colors(names: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    n = max(len(names) - 1, 1)
    return {name: cmap(0.9 * i / n) for i, name in enumerate(names)}


def _epoch_axis(ax, fontsize: float | None = None) -> None:
    """An x axis of epochs with at most 6 integer ticks: every tick is ~4 ms of drawing."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(6, integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("epoch", fontsize=fontsize)


def _few_yticks(ax, n: int = 5) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(n))


def _log_axis(ax) -> None:
    """A log y axis with plain labels ("0.001"): mathtext labels ($10^{-3}$) cost ~0.2 s a figure to parse."""
    from matplotlib.ticker import LogLocator, NullLocator

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=8))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _log_if_wide(ax, values: Sequence[float], ratio: float = 30.0) -> None:
    finite = _finite(values)
    finite = finite[finite > 0]
    if finite.size and finite.max() / finite.min() > ratio:
        _log_axis(ax)
    else:
        _few_yticks(ax)


# ------------------------------------------------------------------ curves
def loss_curves(epochs: Sequence[int], train: Sequence[float], val: Sequence[float] | None,
                best_epoch: int | None, initial_loss: float | None = None,
                expected_initial: float | None = None, loss_name: str = "loss") -> Figure:
    """Training and validation loss per epoch, the best (restored) epoch marked.

    ``initial_loss`` (the untrained network's first batch) is drawn at epoch 0 next to
    ``expected_initial`` (e.g. ln C for softmax cross-entropy), the notes' first sanity check.
    """
    fig = _figure(3.2)
    ax = fig.add_subplot()
    ax.plot(epochs, train, color=TRAIN, label="train", linewidth=1.6)
    if val is not None and _finite(val).size:
        ax.plot(epochs, val, color=VAL, label="validation", linewidth=1.6)
        if best_epoch is not None and best_epoch in epochs:
            ax.plot([best_epoch], [val[list(epochs).index(best_epoch)]], "o", color=BEST, zorder=5)
    _mark_best(ax, best_epoch)
    if initial_loss is not None and math.isfinite(initial_loss):
        ax.plot([0], [initial_loss], "s", color="black", label=f"untrained {initial_loss:.3g}")
    if expected_initial is not None:
        ax.axhline(expected_initial, color=LIMIT, linestyle=":", linewidth=1, label=f"expected at start {expected_initial:.3g}")
    _log_if_wide(ax, list(train) + list(val or []) + [initial_loss or math.nan])
    _epoch_axis(ax)
    ax.set_ylabel(loss_name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def metric_curves(epochs: Sequence[int], train: Sequence[float], val: Sequence[float] | None,
                  best_epoch: int | None, label: str, chance: float | None = None) -> Figure:
    """Training and validation accuracy (or R²) per epoch, the best epoch marked."""
    fig = _figure(3.0)
    ax = fig.add_subplot()
    if _finite(train).size:
        ax.plot(epochs, train, color=TRAIN, label="train", linewidth=1.6)
    if val is not None and _finite(val).size:
        ax.plot(epochs, val, color=VAL, label="validation", linewidth=1.6)
    _mark_best(ax, best_epoch)
    if chance is not None:
        ax.axhline(chance, color=LIMIT, linestyle=":", linewidth=1, label=f"chance {chance:.2f}")
    values = _finite(list(train) + list(val or []))
    if label == "R²" and values.size and values.min() < -1:
        ax.set_ylim(max(values.min(), -1.0) - 0.05, 1.02)  # an early R² of -50 hides the curve
    _epoch_axis(ax)
    _few_yticks(ax)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def lr_schedule(epochs: Sequence[int], lr: Sequence[float], best_epoch: int | None) -> Figure:
    """The learning rate in effect during each epoch."""
    fig = _figure(2.4)
    ax = fig.add_subplot()
    ax.step(epochs, lr, where="mid", color="#9467bd", linewidth=1.6)
    _mark_best(ax, best_epoch)
    _log_if_wide(ax, lr, ratio=10.0)
    finite = _finite(lr)
    if finite.size and finite.min() == finite.max():
        ax.set_ylim(finite.min() * 0.5, finite.max() * 1.5)
        ax.set_title(f"constant learning rate {finite[0]:.3g}", fontsize=9)
    _epoch_axis(ax)
    ax.set_ylabel("lr")
    ax.grid(alpha=0.3)
    return fig


def step_time(parts: Mapping[str, float], colors: Sequence[str] | None = None) -> Figure:
    """One training step as a horizontal bar split into its parts (milliseconds)."""
    fig = _figure(2.1, left=0.3, bottom=1.05, top=0.15)
    ax = fig.add_subplot()
    colors = colors or ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#7f7f7f"]
    left = 0.0
    total = sum(parts.values()) * 1e3 or 1.0
    for (name, seconds), color in zip(parts.items(), colors, strict=False):
        ms = seconds * 1e3
        ax.barh([0], [ms], left=left, color=color, label=f"{name} {ms / total:.0%}", height=0.6)
        left += ms
    ax.set_yticks([])
    ax.set_xlim(0, total)
    ax.set_xlabel("ms per step")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.55), ncol=2, fontsize=7, frameon=False)
    return fig


# ------------------------------------------------------------------ per layer
def update_ratios(epochs: Sequence[int], ratios: Mapping[str, Sequence[float]],
                  band: tuple[float, float] = (1e-4, 1e-2), target: float = 1e-3,
                  limits: tuple[float, float] | None = None) -> Figure:
    """Update/weight ratio per layer on a log axis, the healthy band around ``target`` shaded.

    ``limits`` (low, high) are drawn as dotted lines: where the advice rules speak up.
    """
    fig = _figure(3.2)
    ax = fig.add_subplot()
    ax.axhspan(*band, color=BAND, alpha=0.12, label=f"healthy band {band[0]:g}–{band[1]:g}")
    ax.axhline(target, color=BAND, linewidth=1, alpha=0.8)
    colors = _layer_colors(list(ratios))
    for name, values in ratios.items():
        _line(ax, epochs, values, color=colors[name], label=name, linewidth=1.5)
    if limits is not None:
        for value in limits:
            ax.axhline(value, color=LIMIT, linestyle=":", linewidth=1)
    _log_axis(ax)
    values = _finite([v for vs in ratios.values() for v in vs])
    values = values[values > 0]
    lo = min(band[0], values.min() if values.size else band[0]) / 2
    hi = max(band[1], values.max() if values.size else band[1]) * 2
    ax.set_ylim(lo, hi)
    _epoch_axis(ax)
    ax.set_ylabel("update / weight ratio")
    ax.grid(alpha=0.3, linewidth=0.5)
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    return fig


def gradient_weight_scale(epochs: Sequence[int], grad_rms: Mapping[str, Sequence[float]],
                          weight_rms: Mapping[str, Sequence[float]]) -> Figure:
    """Gradient and weight size (rms per weight) per layer, log axes, side by side."""
    fig = _figure(3.0, wspace=0.3)
    axes = fig.subplots(1, 2)
    names = list(dict.fromkeys(list(grad_rms) + list(weight_rms)))
    colors = _layer_colors(names)
    for ax, series, title in ((axes[0], grad_rms, "gradient rms"), (axes[1], weight_rms, "weight rms")):
        for name, values in series.items():
            if _finite(values).size:
                _line(ax, epochs, values, color=colors[name], label=name, linewidth=1.5)
        _log_if_wide(ax, [v for vs in series.values() for v in vs], ratio=10.0)
        ax.set_title(title, fontsize=9)
        _epoch_axis(ax)
        ax.grid(alpha=0.3, linewidth=0.5)
    axes[0].legend(fontsize=8, loc="best")
    return fig


def _resample_hist(hist: Mapping[str, Sequence[float]], grid: np.ndarray) -> np.ndarray:
    """Mass of a histogram in the bins of ``grid``, assuming values spread evenly within a bin."""
    edges = np.asarray(hist["edges"], dtype=float)
    counts = np.asarray(hist["counts"], dtype=float)
    total = counts.sum()
    if total <= 0:
        return np.zeros(len(grid) - 1)
    cdf = np.interp(grid, edges, np.concatenate([[0.0], np.cumsum(counts)]) / total)
    return np.diff(cdf)


def _quantile(hist: Mapping[str, Sequence[float]], q: float) -> float:
    edges = np.asarray(hist["edges"], dtype=float)
    cdf = np.concatenate([[0.0], np.cumsum(hist["counts"])]).astype(float)
    if cdf[-1] <= 0:
        return math.nan
    return float(np.interp(q * cdf[-1], cdf, edges))


def distributions(hists: Mapping[str, Sequence[Mapping[str, Any]]], value_label: str,
                  means: Mapping[str, Sequence[float]] | None = None,
                  epochs: Sequence[int] | None = None, bins: int = 60) -> Figure:
    """Per-layer value distributions over training, one heat map per layer.

    Each column is one epoch's histogram (share of sampled values per bin, on a log
    colour scale so that a spike at zero, e.g. from ReLU, does not hide the rest);
    ``means`` draws the layer's mean per epoch on top.
    """
    names = [n for n, hs in hists.items() if hs]
    cols = min(3, max(len(names), 1))
    rows = max(1, math.ceil(len(names) / cols))
    fig = _figure(2.3 * rows + 0.3, top=0.3, wspace=0.3, hspace=0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, name in zip(axes, names, strict=False):  # a grid may have more axes than layers
        hs = list(hists[name])
        lo = min(_quantile(h, 0.005) for h in hs)
        hi = max(_quantile(h, 0.995) for h in hs)
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
            lo, hi = min(h["edges"][0] for h in hs), max(h["edges"][-1] for h in hs)
            hi = hi if hi > lo else lo + 1.0
        grid = np.linspace(lo, hi, bins + 1)
        ep = np.array([h["epoch"] for h in hs], dtype=float)
        image = np.stack([_resample_hist(h, grid) for h in hs], axis=1)
        # epochs may be thinned: each column spans half-way to its neighbours
        bounds = np.concatenate([[ep[0] - 0.5], (ep[1:] + ep[:-1]) / 2, [ep[-1] + 0.5]]) if len(ep) > 1 else np.array([ep[0] - 0.5, ep[0] + 0.5])
        top = max(float(image.max()), 1e-9)
        ax.pcolormesh(bounds, grid, np.maximum(image, top * 1e-3), cmap="magma", norm=LogNorm(top * 1e-3, top), shading="flat")
        if means and name in means and epochs is not None:
            _line(ax, epochs, means[name], color="#7fdbff", linewidth=1.2, label="mean")
        ax.set_ylim(lo, hi)
        _few_yticks(ax)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))  # no offset text over the title
        ax.set_title(name, fontsize=9)
        _epoch_axis(ax, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    if len(axes):
        axes[0].set_ylabel(value_label, fontsize=8)
    return fig


def unit_health(epochs: Sequence[int], dead: Mapping[str, Sequence[float]], saturated: Mapping[str, Sequence[float]],
                dead_limit: float, saturated_limit: float) -> Figure:
    """Dead ReLU units and saturated tanh/sigmoid outputs per layer, in percent, with the advice limits."""
    fig = _figure(2.8)
    ax = fig.add_subplot()
    colors = _layer_colors(list(dead) + list(saturated))
    for name, values in dead.items():
        _line(ax, epochs, 100 * np.asarray(values, dtype=float), color=colors[name], label=f"{name} dead", linewidth=1.6)
    for name, values in saturated.items():
        _line(ax, epochs, 100 * np.asarray(values, dtype=float), color=colors[name], linestyle="--",
              label=f"{name} saturated", linewidth=1.6)
    if dead:
        ax.axhline(100 * dead_limit, color=VAL, linestyle=":", linewidth=1, label=f"dead limit {dead_limit:.0%}")
    if saturated:
        ax.axhline(100 * saturated_limit, color="#ff7f0e", linestyle=":", linewidth=1,
                   label=f"saturation limit {saturated_limit:.0%}")
    ax.set_ylim(-2, 102)
    ax.set_yticks([0, 25, 50, 75, 100])
    _epoch_axis(ax)
    ax.set_ylabel("% of units / outputs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", ncol=2)
    return fig


# ------------------------------------------------------------------ first layer
def _strongest(weights: np.ndarray, k: int) -> np.ndarray:
    norms = np.linalg.norm(weights.reshape(len(weights), -1), axis=1)
    return np.sort(np.argsort(-norms, kind="stable")[:k])


def _mosaic(tiles: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
    """Tiles ``(n, h, w[, 3])`` laid out in a grid with ``pad`` NaN pixels between them."""
    n, h, w = tiles.shape[:3]
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *tiles.shape[3:]), np.nan, dtype=float)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tile
    return out


def first_layer_images(weights: np.ndarray, max_tiles: int = 64) -> Figure:
    """First-layer weights drawn as images, one tile per unit or filter.

    Parameters
    ----------
    weights : ndarray of shape (units, height, width) or (units, channels, height, width)
        Three channels are drawn in colour, one channel in a diverging map (red
        positive, blue negative), more channels as their mean. The ``max_tiles`` units
        with the largest weight norm are shown, each scaled to its own largest weight.
    """
    if weights.ndim == 4 and weights.shape[1] not in (1, 3):
        weights = weights.mean(axis=1, keepdims=True)
    keep = _strongest(weights, max_tiles)
    tiles = np.asarray(weights[keep], dtype=float)
    n = len(tiles)
    colour = tiles.ndim == 4 and tiles.shape[1] == 3
    if colour:
        tiles = np.transpose(tiles, (0, 2, 3, 1))
        lo = tiles.min(axis=(1, 2, 3), keepdims=True)
        span = np.maximum(tiles.max(axis=(1, 2, 3), keepdims=True) - lo, 1e-12)
        tiles = (tiles - lo) / span
    else:
        tiles = tiles.reshape(n, *tiles.shape[-2:])
        tiles = tiles / np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-12)
    h, w = tiles.shape[1:3]
    cols = min(16, n, max(1, math.ceil(math.sqrt(n * 2 * h / w))))
    mosaic = _mosaic(tiles, cols, pad=max(1, h // 10))
    aspect = mosaic.shape[0] / mosaic.shape[1]
    width = min(WIDTH, max(3.0, 0.45 * cols * max(1.0, w / 8)))
    fig = _figure(width * aspect + 0.35, width=width, left=0.05, right=0.05, top=0.3, bottom=0.05)
    ax = fig.add_subplot()
    ax.set_axis_off()
    if colour:
        ax.imshow(np.nan_to_num(mosaic, nan=1.0), interpolation="nearest")
    else:
        from matplotlib import colormaps

        cmap = colormaps["RdBu_r"].with_extremes(bad="white")
        ax.imshow(mosaic, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    scale = "each in its own colour range" if colour else "red positive, blue negative"
    fig.suptitle(f"{n} of {len(weights)} units (largest weights), {scale}", fontsize=9)
    return fig


def _feature_rows(norms: np.ndarray, max_features: int) -> tuple[np.ndarray, str | None]:
    """The features a table's first-layer figure shows: all, or the largest and smallest norms.

    The largest norms alone say little: every column starts near the same norm (the
    initialisation's), so the features that training left near zero are half the picture.
    """
    ranked = np.argsort(-norms, kind="stable")
    if len(ranked) <= max_features:
        return ranked, None
    half = max_features // 2
    return np.concatenate([ranked[:half], ranked[-half:]]), f"{half} largest and {half} smallest of {len(norms)} features"


def first_layer_table(weights: np.ndarray, feature_names: Sequence[str], max_features: int = 30,
                      max_units: int = 48, init_norm: float | None = None) -> Figure:
    """Heat map of the first layer's weights per input feature, next to each feature's weight norm.

    Parameters
    ----------
    weights : ndarray of shape (units, features)
        Inputs are standardised, so weights of different features are comparable.
    feature_names : sequence of str
    max_features : int, default=30
        Above this many features, half this many with the largest norms and half with the smallest.
    init_norm : float, optional
        A feature's expected weight norm at initialisation, drawn as a dotted line.
    """
    norms = np.linalg.norm(weights, axis=0)
    order, title = _feature_rows(norms, max_features)
    units = _strongest(weights, max_units)
    block = weights[np.ix_(units, order)].T
    names = [str(feature_names[i]) if i < len(feature_names) else f"x{i}" for i in order]
    names = [n if len(n) <= 28 else n[:27] + "…" for n in names]
    height = max(2.6, 0.22 * len(order) + 1.1)
    label_width = 0.2 + 0.065 * max(len(n) for n in names)  # 7-point labels: about 0.065 inch a character
    fig = _figure(height, left=label_width, right=0.95, top=0.35, wspace=0.08)  # 0.95 in: the colour bar
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 3]}, sharey=True)
    y = np.arange(len(order))
    left.barh(y, norms[order], color=TRAIN)
    left.set_xlim(0, max(float(norms.max()), init_norm or 0.0) * 1.08)  # lengths from zero: the real magnitudes
    if init_norm:
        left.axvline(init_norm, color=LIMIT, linestyle=":", linewidth=1.2)
    left.set_yticks(y, names, fontsize=7)
    left.invert_yaxis()
    left.set_xlabel("weight norm" + ("\n(dotted: at initialisation)" if init_norm else ""), fontsize=8)
    left.tick_params(axis="x", labelsize=7)
    if title is not None:
        for ax in (left, right):
            ax.axhline(len(order) / 2 - 0.5, color="black", linewidth=1.2)
        left.set_title(title, fontsize=8, loc="left")
    limit = float(np.abs(block).max()) or 1.0
    mesh = right.imshow(block, aspect="auto", cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -limit, limit), interpolation="nearest")
    right.set_xlabel(f"{len(units)} of {weights.shape[0]} units (largest weights)", fontsize=8)
    right.tick_params(labelsize=7)
    box = right.get_position()  # the colour bar in the right margin, its labels inside the figure
    cax = fig.add_axes((box.x1 + 0.12 / WIDTH, box.y0 + box.height * 0.1, 0.12 / WIDTH, box.height * 0.8))
    bar = fig.colorbar(mesh, cax=cax)
    bar.set_label("weight", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


# ------------------------------------------------------------------ test split
def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> Figure:
    """Confusion matrix: rows true class, columns predicted; colour is the share of the row.

    The report draws this for more than 20 classes (up to 20 it shows an HTML table);
    counts are written in the cells when there are at most 20.
    """
    m = np.asarray(matrix, dtype=float)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    k = len(labels)
    size = min(WIDTH - 1.6, max(3.2, 0.4 * k + 1.4))
    rotate = k > 6
    fig = _figure(size, width=size + 1.6, left=1.0, right=0.6, bottom=0.9 if rotate else 0.5, top=0.15)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    short = [str(v) if len(str(v)) <= 12 else str(v)[:11] + "…" for v in labels]
    ax.set_xticks(range(k), short, rotation=45 if rotate else 0, ha="right" if rotate else "center", fontsize=8)
    ax.set_yticks(range(k), short, fontsize=8)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if m[i, j]:
                    ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7 if k > 10 else 9,
                            color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of true class")
    return fig


def predicted_vs_true(y_true: Sequence[Sequence[float]], y_pred: Sequence[Sequence[float]]) -> Figure:
    """Predicted against true values on the test split (first target), and the residuals.

    Left: predicted against true with the identity line. Right: the residual (predicted
    minus true) against the prediction, where a trend or a funnel is a pattern the model missed.
    """
    t = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)[:, 0]
    p = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)[:, 0]
    fig = _figure(3.2, top=0.35, wspace=0.35)
    ax, res = fig.subplots(1, 2)
    ax.scatter(t, p, s=10, alpha=0.5, color=TRAIN, edgecolors="none")
    both = _finite(np.concatenate([t, p]))
    if both.size:
        lo, hi = both.min(), both.max()
        ax.plot([lo, hi], [lo, hi], color=LIMIT, linestyle="--", linewidth=1, label="perfect")
    ss_res, ss_tot = np.sum((t - p) ** 2), np.sum((t - t.mean()) ** 2)
    if ss_tot > 0:
        ax.set_title(f"R² {1 - ss_res / ss_tot:.3f} on {len(t)} test rows", fontsize=9)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.legend(fontsize=8)
    res.scatter(p, p - t, s=10, alpha=0.5, color=VAL, edgecolors="none")
    res.axhline(0.0, color=LIMIT, linestyle="--", linewidth=1)
    res.set_title(f"residuals: RMSE {math.sqrt(ss_res / max(len(t), 1)):.3g}", fontsize=9)
    res.set_xlabel("predicted")
    res.set_ylabel("predicted − true")
    for a in (ax, res):
        a.grid(alpha=0.3)
        _few_yticks(a)
    return fig
