"""A comparison as one self-contained HTML page: the verdict, the paired per-fold plot, every test.

The page is built like a run's ``report.html`` (:mod:`trainwell.report.html`): the same style,
figures embedded as base64 PNG, no script and no external file, so it opens offline. It shows

- the verdict in plain words, and every warning of the tests (too few folds to reach
  significance, few disagreements, ...);
- the paired per-fold plot (:func:`~trainwell.compare.plot_scores`: one line joins the models'
  scores on the same fold) beside the per-model mean, standard deviation, range and fit time;
- one card per pair of models with its test: who was better on how many folds, the mean
  difference with its confidence interval, the effect size, the p-value (Holm-adjusted with
  three or more models), or McNemar's 2×2 table in single-split mode;
- the per-fold scores themselves.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError

if TYPE_CHECKING:
    from .evaluate import CompareResult
    from .stats import McNemarResult, WilcoxonResult

__all__ = ["render_html", "write_report"]

REPORT = "report.html"

# Tables with a row per model or fold (not "grid": that class is the run report's card layout);
# the run report's CSS covers everything else.
_CSS = """
table.scores{border-collapse:collapse;font-size:14px;font-variant-numeric:tabular-nums;margin:4px 0}
table.scores th,table.scores td{padding:3px 12px;border-bottom:1px solid var(--line);text-align:right}
table.scores th:first-child,table.scores td:first-child{text-align:left}
table.scores thead th{color:var(--muted);font-weight:500}tr.best td{font-weight:700}
p.verdict{font-size:16px;margin:6px 0}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return "–"
    return "< 0.0001" if value < 1e-4 else f"{value:.4g}"


def _kv(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{cells}</table>'


def _warnings(messages: list[str]) -> str:
    return "".join(
        f'<div class="finding warning"><span class="badge">warning</span><p>{_esc(m)}</p></div>' for m in messages
    )


def _tiles(result: CompareResult) -> str:
    summary = result.summary
    tiles = []
    for name, row in summary.iterrows():
        spread = f" ± {row['std']:.4f}" if math.isfinite(row["std"]) else ""
        tiles.append((f"{name}: mean {result.metric}", f"{row['mean']:.4f}{spread}"))
    winner = result.winner
    tiles.append(("significantly best", winner if winner is not None else "none shown"))
    tiles.append((f"{result.scores.index.name or 'fold'}s", str(len(result.scores))))
    body = "".join(f'<div class="tile"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>' for k, v in tiles)
    return f'<div class="tiles">{body}</div>'


def _summary_table(result: CompareResult) -> str:
    summary = result.summary
    best = result.best
    head = "<tr><th>model</th><th>mean</th><th>std</th><th>min</th><th>max</th><th>fit seconds (mean)</th></tr>"
    rows = "".join(
        f'<tr{" class=best" if name == best else ""}><td>{_esc(name)}</td><td>{_num(r["mean"])}</td><td>{_num(r["std"])}</td>'
        f'<td>{_num(r["min"])}</td><td>{_num(r["max"])}</td><td>{_num(r["fit_seconds"], 2)}</td></tr>'
        for name, r in summary.iterrows()
    )
    return f'<table class="scores"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _wilcoxon_rows(t: WilcoxonResult) -> list[tuple[str, str]]:
    a, b = t.names
    rows = [
        (f"{t.unit}s ({a} better / {b} better / tied)", f"{t.n} ({t.n_a_better} / {t.n_b_better} / {t.n_ties})"),
        (f"mean {t.metric}: {a}, {b}", f"{t.mean_a:.4f} (± {t.std_a:.4f}), {t.mean_b:.4f} (± {t.std_b:.4f})"),
        (f"mean difference {a} − {b}", f"{t.mean_difference:+.4f}"),
        (f"{t.confidence:.0%} confidence interval" + (" (corrected for shared training rows)" if t.ci_corrected else ""),
         f"{t.ci_low:+.4f} to {t.ci_high:+.4f}"),
        ("effect size (matched-pairs rank-biserial)", f"{t.effect_size:+.3f}"),
        ("Wilcoxon statistic", f"{t.statistic:g} ({t.method})"),
        ("p-value", _p(t.p_value)),
    ]
    if t.p_adjusted is not None:
        rows.append((f"p-value, Holm-adjusted for {t.n_comparisons} comparisons", _p(t.p_adjusted)))
    rows.append((f"smallest p-value {t.n_a_better + t.n_b_better} differing {t.unit}s can give", _p(t.min_p_value)))
    return rows


def _mcnemar_rows(t: McNemarResult) -> list[tuple[str, str]]:
    a, b = t.names
    (both, a_only), (b_only, neither) = t.table
    rows = [
        ("test rows", str(t.n)),
        (f"both right / only {a} / only {b} / both wrong", f"{both} / {a_only} / {b_only} / {neither}"),
        (f"accuracy: {a}, {b}", f"{t.accuracy_a:.4f}, {t.accuracy_b:.4f}"),
        ("McNemar statistic", f"{t.statistic:g} ({t.method})"),
        ("p-value", _p(t.p_value)),
    ]
    if t.p_adjusted is not None:
        rows.append((f"p-value, Holm-adjusted for {t.n_comparisons} comparisons", _p(t.p_adjusted)))
    return rows


def _pair_sections(result: CompareResult) -> str:
    parts = []
    for i, t in enumerate(result.tests):
        a, b = t.names
        rows = _mcnemar_rows(t) if result.method == "mcnemar" else _wilcoxon_rows(t)
        parts.append(
            f'<section id="pair-{i}"><h2>{_esc(a)} vs {_esc(b)}</h2><p class="verdict">{_esc(t.verdict)}</p>'
            f"{_kv(rows)}{_warnings(list(t.warnings))}</section>"
        )
    return f'<div class="grid">{"".join(parts)}</div>'


def _fold_table(result: CompareResult) -> str:
    scores, seconds = result.scores, result.fit_seconds
    unit = scores.index.name or "fold"
    names = [str(c) for c in scores.columns]
    head = f"<tr><th>{_esc(unit)}</th>" + "".join(f"<th>{_esc(n)}</th>" for n in names)
    head += "".join(f"<th>{_esc(n)} fit s</th>" for n in names) + "</tr>"
    rows = "".join(
        f"<tr><td>{_esc(idx)}</td>" + "".join(f"<td>{_num(float(v))}</td>" for v in scores.loc[idx])
        + "".join(f"<td>{_num(float(v), 2)}</td>" for v in seconds.loc[idx]) + "</tr>"
        for idx in scores.index
    )
    return f'<table class="scores"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _plot_guide(result: CompareResult, unit: str) -> str:
    if len(result.scores) == 1:
        return (f"One {unit}: the line joins the models' accuracy on the same test rows. McNemar's test below "
                "looks only at the rows where they disagree.")
    return (f"Each grey line joins the models' scores on the same {unit} (the same training and test rows, the same "
            f"seed); the diamonds are the means. Lines that all slope the same way mean one model wins {unit} after "
            f"{unit}; crossing lines mean the ranking depends on the {unit}.")


def render_html(result: CompareResult, title: str | None = None) -> str:
    """The comparison's report page as one HTML string.

    Parameters
    ----------
    result : CompareResult
        What :func:`~trainwell.compare.compare` returned.
    title : str, optional
        The page's heading; by default the model names.

    Returns
    -------
    str
        A self-contained page: the plot is embedded as PNG, there is no script or external file.
    """
    from ..report.html import image_tag, standalone_page
    from ..report.plots import to_png
    from .plot import plot_scores

    names = result.names
    title = title or f"trainwell comparison: {' vs '.join(names)}"
    subtitle = f"{result.design}; {result.metric}, higher is better; significance level {result.alpha:g}"
    unit = result.scores.index.name or "fold"
    png = to_png(plot_scores(result))
    verdict = "".join(f'<p class="verdict">{_esc(line)}</p>' for line in result.verdict.splitlines())
    body = [
        _tiles(result),
        f'<section id="verdict"><h2>Verdict</h2>{verdict}{_warnings(result.warnings)}</section>',
        f'<section id="scores"><h2>Paired scores, {_esc(unit)} by {_esc(unit)}</h2>'
        f'<p class="guide">{_esc(_plot_guide(result, unit))}</p>'
        f'<div class="row"><figure>{image_tag(png, f"{result.metric} of each model on each {unit}, a line per {unit}")}'
        f"</figure><aside>{_summary_table(result)}</aside></div></section>",
        f'<h2 id="tests">Every pair\'s test ({"McNemar" if result.method == "mcnemar" else "Wilcoxon signed-rank"})</h2>',
        _pair_sections(result),
        f'<section id="folds"><h2>Scores per {_esc(unit)}</h2>{_fold_table(result)}</section>',
    ]
    return standalone_page(title, subtitle, "".join(body), css=_CSS)


def write_report(result: CompareResult, path: str | Path, title: str | None = None) -> Path:
    """Write :func:`render_html` to ``path`` atomically (a folder gets ``report.html`` inside).

    Parameters
    ----------
    result : CompareResult
        What :func:`~trainwell.compare.compare` returned.
    path : str or Path
        A file name ending in ``.html``/``.htm``, or a folder (created if needed) that receives
        ``report.html``.
    title : str, optional
        The page's heading.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ConfigError
        When ``path`` (or the folder it should go into) is an existing file of another kind.
    """
    from .._files import write_file_atomic

    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        if target.exists() and not target.is_dir():
            raise ConfigError(f"{target} is a file, not a folder; give a folder for report.html or a path ending in .html.")
        target = target / REPORT
    if target.parent.exists() and not target.parent.is_dir():
        raise ConfigError(f"{target.parent} is a file, not a folder; choose another place for the report.")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(target, render_html(result, title).encode("utf-8"))
    return target
