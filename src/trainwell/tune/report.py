"""The search report and the run folder of a search.

``report.html`` is one self-contained file (images embedded as PNG data): the best
configuration, the border warnings, the ranges each stage searched, the score against each
parameter on its own scale (log axes for log ranges, the border zones shaded), the
best-so-far curve of each stage, and the table of trials. Figures use matplotlib's object
API with the Agg canvas (no display needed).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._files import jsonable, write_file_atomic
from .border import BORDER_MARGIN
from .objective import METRICS

__all__ = ["best_so_far", "progress_figure", "render_report", "write_run_folder"]


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def best_so_far(scores: np.ndarray, direction: str) -> np.ndarray:
    """Running best of ``scores`` in trial order (NaN for pruned trials is skipped)."""
    out = np.empty(len(scores))
    best = math.nan
    for i, s in enumerate(scores):
        if np.isfinite(s) and (math.isnan(best) or (s < best if direction == "minimize" else s > best)):
            best = s
        out[i] = best
    return out


def progress_figure(trials: pd.DataFrame, direction: str, metric: str) -> Figure:
    """Each stage's trial scores in trial order, pruned ones marked, and the best so far (the
    report's figure; a :class:`~trainwell.tune.TuneResult` in Jupyter shows it too)."""
    studies = list(dict.fromkeys(trials["study"]))
    fig = Figure(figsize=(4.2 * len(studies), 3.2))
    axes = fig.subplots(1, len(studies), squeeze=False)[0]
    for ax, name in zip(axes, studies, strict=True):
        t = trials[trials["study"] == name].sort_values("number")
        scores = pd.to_numeric(t["score"], errors="coerce").to_numpy(dtype=float)
        x = np.arange(1, len(t) + 1)
        complete = np.isfinite(scores)
        ax.scatter(x[complete], scores[complete], s=14, color="tab:blue", label="trial")
        pruned = t["state"].to_numpy() == "PRUNED"
        if pruned.any():
            ax.scatter(x[pruned], np.full(pruned.sum(), np.nanmax(scores) if complete.any() else 0.0), marker="x",
                       color="tab:gray", s=14, label="pruned")
        ax.step(x, best_so_far(scores, direction), where="post", color="tab:red", label="best so far")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("trial")
        ax.set_ylabel(f"validation {metric}")
        if metric == "loss" and complete.any() and np.nanmin(scores) > 0 and np.nanmax(scores) / np.nanmin(scores) > 20:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _param_figure(trials: pd.DataFrame, spaces: dict[str, dict[str, Any]], outer: dict[str, dict[str, Any]],
                  best_params: dict[str, Any], metric: str) -> Figure:
    params = list(outer)
    cols = min(3, len(params))
    rows = math.ceil(len(params) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(params):]:
        ax.set_visible(False)
    for ax, name in zip(axes, params, strict=False):
        spec = outer[name]
        for stage, marker, color in (("lr", "o", "tab:orange"), ("refine", "o", "tab:blue")):
            t = trials[(trials["stage"] == stage) & trials["score"].notna()]
            if name not in t or t[name].isna().all():
                continue
            t = t[t[name].notna()]
            y = t["score"].astype(float).to_numpy()
            if "choices" in spec:
                labels = [",".join(map(str, c)) if isinstance(c, list) else str(c) for c in spec["choices"]]
                pos = {lab: i for i, lab in enumerate(labels)}
                rng = np.random.default_rng(0)
                x = np.array([pos.get(str(v), np.nan) for v in t[name]]) + rng.uniform(-0.15, 0.15, len(t))
                ax.set_xticks(range(len(labels)), labels, fontsize=7)
            else:
                x = t[name].astype(float).to_numpy()
            label = "learning-rate stage (short runs)" if stage == "lr" else "refine stage"
            ax.scatter(x, y, s=14, marker=marker, color=color, alpha=0.8, label=label)
        if "choices" not in spec:
            lo, hi, log = spec["low"], spec["high"], spec["log"]
            if log:
                ax.set_xscale("log")
                a, b = math.log10(lo), math.log10(hi)
                edges = (10 ** (a + BORDER_MARGIN * (b - a)), 10 ** (b - BORDER_MARGIN * (b - a)))
            else:
                edges = (lo + BORDER_MARGIN * (hi - lo), hi - BORDER_MARGIN * (hi - lo))
            ax.axvspan(lo, edges[0], color="tab:red", alpha=0.08, lw=0)
            ax.axvspan(edges[1], hi, color="tab:red", alpha=0.08, lw=0)
            ax.set_xlim(lo, hi)
            if isinstance(best_params.get(name), (int, float)) and not isinstance(best_params.get(name), bool):
                ax.axvline(float(best_params[name]), color="tab:green", lw=1.2, label="best")
        base = trials[trials.get("note", pd.Series(dtype=object)).astype(str).str.startswith("baseline")
                      & trials["score"].notna()] if "note" in trials else trials.iloc[:0]
        if len(base):
            ax.axhline(float(base["score"].min()), color="tab:gray", ls="--", lw=1, label="baseline (your settings)")
        ax.set_xlabel(name + (" (log scale)" if spec.get("log") else ""))
        ax.set_ylabel(f"validation {metric}")
        if metric == "loss":
            finite = trials["score"].dropna().astype(float)
            if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 20:
                ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0, classes="trials")


def render_report(result: Any) -> str:
    """The HTML text of the search report of a :class:`~trainwell.tune.TuneResult`."""
    metric = result.metric
    direction = METRICS[metric][1]
    trials = result.trials
    refine = [name for name in result.spaces if name.endswith(".refine")]
    outer = dict(result.spaces[refine[-1]]) if refine else {}
    lr_spaces = [name for name in result.spaces if name.endswith(".lr")]
    if lr_spaces:
        outer["lr"] = result.spaces[lr_spaces[-1]]["lr"]
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>trainwell search report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table.trials{border-collapse:collapse;font-size:12px}table.trials td,table.trials th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}.warn{background:#fff3cd;padding:.5em 1em;border-left:4px solid #e0a800}"
        ".note{background:#eef;padding:.5em 1em;border-left:4px solid #88a}img{max-width:100%}</style></head><body>",
        "<h1>Hyperparameter search</h1>",
    ]
    done = trials[trials["state"].isin(["COMPLETE", "PRUNED"])] if len(trials) else trials
    better = "lower" if direction == "minimize" else "higher"
    parts.append(
        f"<p>{len(done)} trials ({int((done['state'] == 'PRUNED').sum()) if len(done) else 0} pruned) in "
        f"{result.seconds:.1f} s. Best validation {esc(metric)} ({better} is better): <b>{result.best_score:.4g}</b> with "
        + ", ".join(f"<code>{esc(k)}={esc(_fmt(v))}</code>" for k, v in result.best_params.items())
        + f". Trials are kept in {esc(result.storage)}.</p>"
    )
    if result.warnings:
        parts.append("<h2>Border warnings</h2>")
        parts += [f"<p class='warn'>{esc(w)}</p>" for w in result.warnings]
    else:
        parts.append("<p>No best value lies in the outer 10 % of its range.</p>")
    parts += [f"<p class='note'>{esc(n)}</p>" for n in result.notes]
    parts.append("<h2>Ranges searched</h2><table class='trials'><tr><th>stage</th><th>parameter</th><th>range</th></tr>")
    for name, space in result.spaces.items():
        for param, spec in space.items():
            parts.append(f"<tr><td>{esc(name)}</td><td>{esc(param)}</td><td>{esc(_describe(spec))}</td></tr>")
    parts.append("</table>")
    if len(trials) and trials["score"].notna().any():
        parts.append("<h2>Score against each parameter</h2><p>Shaded: the outer 10 % of each range (the border).</p>")
        parts.append(f"<img alt='score against each parameter' src='{_png(_param_figure(trials, result.spaces, outer, result.best_params, metric))}'>")
        parts.append("<h2>Best so far</h2>")
        parts.append(f"<img alt='best so far' src='{_png(progress_figure(trials, direction, metric))}'>")
    if result.confirmation is not None:
        parts.append(f"<h2>Confirmation on repeated folds</h2><pre>{esc(str(result.confirmation))}</pre>")
        if hasattr(result.confirmation, "scores"):
            from ..compare import plot_scores

            # The paired per-fold plot of trainwell.compare's report: a line joins one fold.
            parts.append("<p>Each grey line joins the configurations' scores on the same fold; the diamonds are the means.</p>")
            parts.append(f"<img alt='paired per-fold scores of the confirmed configurations' "
                         f"src='{_png(plot_scores(result.confirmation))}'>")
    parts.append("<h2>Trials</h2>")
    shown = trials.drop(columns=["start"], errors="ignore")
    parts.append(_table(shown))
    parts.append("</body></html>")
    return "\n".join(parts)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (tuple, list)):
        return ",".join(map(str, v))
    return str(v)


def _describe(spec: dict[str, Any]) -> str:
    if "choices" in spec:
        return " | ".join(_fmt(c) for c in spec["choices"])
    return f"{spec['low']:g} … {spec['high']:g}" + (" (log)" if spec["log"] else "")


def write_run_folder(result: Any, run_dir: Path, report: bool = True) -> None:
    """Write ``trials.csv``, ``search.json``, ``report.html`` and the refit ``model`` into ``run_dir``."""
    run_dir = Path(run_dir)
    write_file_atomic(run_dir / "trials.csv", result.trials.to_csv(index=False))
    summary = {
        "best_params": jsonable(result.best_params),
        "best_score": result.best_score,
        "metric": result.metric,
        "warnings": result.warnings,
        "notes": result.notes,
        "spaces": result.spaces,
        "storage": result.storage,
        "seconds": result.seconds,
        "n_trials": int(len(result.trials)),
    }
    write_file_atomic(run_dir / "search.json", json.dumps(summary, indent=2, default=str))
    if result.best_estimator is not None:
        from ..persist import save_model

        save_model(result.best_estimator, run_dir / "model")
    if report:
        path = run_dir / "report.html"
        write_file_atomic(path, render_report(result))
        result.report_path = path
