"""The one type every diagnostic returns: a :class:`Finding`, advice as data before prose.

A list of them is a :class:`Findings` (a plain ``list`` that also shows itself as ranked HTML
in a notebook); :func:`findings_html` is that HTML, reused by the notebook view of a fitted
estimator (:mod:`trainwell.report.notebook`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "error"]
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One thing a check, monitor or rule found about a run.

    Attributes
    ----------
    code : str
        Stable identifier, e.g. ``"dead_relu"`` (documented in the README).
    severity : {"info", "warning", "error"}
    message : str
        What was seen, in plain words, with the numbers.
    advice : str
        What to try.
    evidence : dict
        The numbers behind the message (for reports).
    """

    code: str
    severity: Severity
    message: str
    advice: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        text = f"[{self.severity}] {self.message}"
        return f"{text} Try: {self.advice}" if self.advice else text


class Findings(list):
    """A list of :class:`Finding` (what ``fit`` leaves in ``findings_``, what ``check`` returns).

    It is a plain ``list`` in every way (it compares equal to one, and ``+`` gives a
    ``Findings``); in Jupyter it displays as the findings ranked, most serious first, each
    with its advice (:func:`findings_html`).
    """

    def __add__(self, other: list) -> Findings:  # list + list would be a plain list
        return Findings(list.__add__(self, list(other)))

    def __radd__(self, other: list) -> Findings:  # check(...) given as a plain list, then + findings_
        return Findings(list(other) + list(self))

    def _repr_html_(self) -> str:
        return findings_html(self)


def rank(findings: list[Finding]) -> Findings:
    """Most serious first (errors, then warnings, then info), stable within a severity."""
    return Findings(sorted(findings, key=lambda f: SEVERITY_RANK[f.severity]))


#: Badge colours of the severities in the notebook view (readable on light and dark themes).
_BADGE = {"error": "#c62828", "warning": "#b26a00", "info": "#1565c0"}


def findings_html(findings: list[Finding], empty: str = "No findings: the diagnostics found nothing to report.") -> str:
    """The findings as an HTML list, most serious first, every text escaped.

    Inline styles only (no ``<style>`` block), so nothing leaks into the notebook's page.

    Parameters
    ----------
    findings : list of Finding
    empty : str, optional
        What to say when there are none.

    Returns
    -------
    str
        An HTML fragment.
    """
    if not findings:
        return f"<p>{html.escape(empty)}</p>"
    counts = ", ".join(f"{n} {sev}{'s' if n != 1 and sev != 'info' else ''}" for sev in ("error", "warning", "info")
                       if (n := sum(f.severity == sev for f in findings)))
    items = []
    for f in rank(list(findings)):
        color = _BADGE.get(f.severity, "#555")
        advice = (f'<br><span style="opacity:.8">Try: {html.escape(f.advice)}</span>' if f.advice else "")
        items.append(
            f'<li style="margin:4px 0"><span style="background:{color};color:#fff;border-radius:3px;'
            f'padding:0 5px;font-size:85%">{html.escape(f.severity)}</span> '
            f"<code>{html.escape(f.code)}</code>: {html.escape(f.message)}{advice}</li>"
        )
    return (f'<div class="trainwell-findings"><b>Findings, most serious first</b> ({html.escape(counts)})'
            f'<ol style="margin:4px 0;padding-left:22px">{"".join(items)}</ol></div>')


def format_findings(findings: list[Finding], min_severity: Severity = "info") -> str:
    """Findings as a short ranked list in plain words, one block per finding.

    Parameters
    ----------
    findings : list of Finding
    min_severity : {"info", "warning", "error"}
        Leave out findings less serious than this.
    """
    limit = SEVERITY_RANK[min_severity]
    lines = []
    for f in rank(findings):
        if SEVERITY_RANK[f.severity] > limit:
            continue
        lines.append(f"{f.severity:<7}  {f.code}: {f.message}")
        if f.advice:
            lines.append(f"{'':<7}  Try: {f.advice}")
    return "\n".join(lines)
