"""Draw paired per-fold scores: one line per fold joining the models' scores on that fold.

Lines that all slope the same way mean one model wins fold after fold; crossing lines mean
the ranking depends on the fold. The figure is built with ``matplotlib.figure.Figure``
(no pyplot, no global state, no display needed: it renders with Agg) so that servers and the
HTML report can call it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..exceptions import DataError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .evaluate import CompareResult

__all__ = ["plot_scores"]


def plot_scores(
    result: CompareResult | pd.DataFrame,
    *,
    metric: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Plot each model's score on each fold, with a line joining the scores of the same fold.

    Parameters
    ----------
    result : CompareResult or pandas.DataFrame
        A :func:`~trainwell.compare.compare` result, or a frame with one row per fold and one
        column per model.
    metric : str, optional
        Axis label; taken from the result when it is a ``CompareResult``.
    title : str, optional
        Figure title; by default the metric and, for two models, the test's p-value.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (``fig.savefig("scores.png")`` writes it).
    """
    from matplotlib.figure import Figure

    scores = result.scores if hasattr(result, "scores") else result
    if not isinstance(scores, pd.DataFrame) or scores.shape[1] < 1 or len(scores) < 1:
        raise DataError("plot_scores needs a CompareResult or a DataFrame with one row per fold and one column per model.")
    metric = metric or getattr(result, "metric", None) or "score"
    names = [str(c) for c in scores.columns]
    values = scores.to_numpy(dtype=float)
    x = np.arange(len(names))

    if ax is None:
        fig = Figure(figsize=(max(5.0, 1.6 + 1.4 * len(names)), 4.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    # One grey line per fold: the pairing is the point of the picture.
    for row in values:
        ax.plot(x, row, color="0.55", linewidth=0.9, alpha=0.7, marker="o", markersize=3.5, zorder=2)
    means = values.mean(axis=0)
    ax.scatter(x, means, marker="D", s=55, color="C3", zorder=3, label="mean")
    for xi, m in zip(x, means, strict=True):
        ax.annotate(f"{m:.4g}", (xi, m), xytext=(8, 0), textcoords="offset points", va="center", fontsize=8, color="C3")
    ax.set_xticks(x, names)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel(metric)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize=8, frameon=False)
    if title is None:
        unit = scores.index.name or "fold"
        title = f"{metric} on {len(scores)} {unit}{'' if len(scores) == 1 else 's'} (a line joins one {unit})"
        tests = getattr(result, "tests", None)
        if tests and len(tests) == 1:
            test_name = "McNemar" if getattr(result, "method", "") == "mcnemar" else "Wilcoxon"
            title += f"\n{test_name} p = {tests[0].p_value:.2g}"
    ax.set_title(title, fontsize=10)
    return fig

