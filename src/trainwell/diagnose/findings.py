"""The one type every diagnostic returns: a :class:`Finding`, advice as data before prose.

A list of them is a :class:`Findings` (a plain ``list`` that also shows itself as ranked HTML
in a notebook); :func:`findings_html` is that HTML, reused by the notebook view of a fitted
estimator (:mod:`trainwell.report.notebook`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .expectations import near_chance

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
    fix : dict
        The advised change as estimator parameters (e.g. ``{"lr": 0.001}``), empty when the
        advice is not a parameter change.
    because : tuple of Finding
        Symptoms this finding explains, folded under it (see :func:`fold_symptoms`): one
        cause first, its consequences as its evidence.
    """

    code: str
    severity: Severity
    message: str
    advice: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: dict[str, Any] = field(default_factory=dict)
    because: tuple[Finding, ...] = ()

    def __str__(self) -> str:
        text = f"[{self.severity}] {self.message}"
        text = f"{text} Try: {self.advice}" if self.advice else text
        return text + "".join(f"\n    because: {f.code}: {f.message}" for f in self.because)


#: Root causes and the symptoms each one explains, in causal order (the first cause found
#: takes a symptom). A learning rate far too high kills ReLUs, makes the steps huge or (once
#: the weights blew up) tiny relative to them, drives the loss up until it diverges, and
#: leaves a model that fits neither split; saying so once, with the rest as its evidence,
#: keeps the advice from pulling in opposite directions.
FOLDS: dict[str, tuple[str, ...]] = {
    # a model that answers the common class scores the majority rate: "chance" is the imbalance's doing
    "class_imbalance": ("validation_at_chance", "underfitting"),
    "symmetric_weights": ("cannot_overfit_small_batch", "underfitting", "update_ratio_low", "lr_too_low",
                          "vanishing_gradients", "regularization_too_strong", "validation_at_chance"),
    "targets_out_of_range": ("vanishing_gradients", "saturated_units", "exploding_gradients", "underfitting",
                             "cannot_overfit_small_batch", "update_ratio_low", "init_loss_off"),
    "exploding_gradients": ("init_loss_off", "lr_too_high", "diverged", "dead_relu", "update_ratio_high",
                            "update_ratio_low", "overfitting", "underfitting", "saturated_units",
                            "cannot_overfit_small_batch"),
    "lr_too_high": ("diverged", "dead_relu", "update_ratio_high", "update_ratio_low", "vanishing_gradients",
                    "overfitting", "underfitting", "validation_at_chance", "cannot_overfit_small_batch",
                    "regularization_not_effective", "regularization_too_strong", "saturated_units"),
    "diverged": ("dead_relu", "update_ratio_high", "update_ratio_low", "vanishing_gradients", "overfitting",
                 "underfitting", "validation_at_chance", "cannot_overfit_small_batch"),
    "saturated_units": ("vanishing_gradients", "init_loss_off", "underfitting", "cannot_overfit_small_batch",
                        "update_ratio_low", "sigmoid_hidden_activation"),
    "vanishing_gradients": ("underfitting", "cannot_overfit_small_batch", "update_ratio_low", "lr_too_low"),
    "lr_too_low": ("update_ratio_low", "underfitting", "cannot_overfit_small_batch", "validation_at_chance"),
    # dead units get no data gradient, so weight decay alone shrinks their weights: the
    # shrinking is the dead units' consequence, not a regularisation too strong
    "dead_relu": ("underfitting", "cannot_overfit_small_batch", "regularization_too_strong", "update_ratio_low"),
    "regularization_too_strong": ("underfitting", "update_ratio_low", "vanishing_gradients"),
    # a network too small to represent the problem cannot overfit 20 rows either
    "underfitting": ("cannot_overfit_small_batch",),
}


def _imbalance_explains(cause: Finding, symptom: Finding) -> bool:
    """Whether a class imbalance explains a poor fit: the model scores near the majority share.

    With 56 classes and the most common 7 % of the rows, a model at 89 % is not held down by the
    imbalance (an unseen table); with 95 % of one class, a model at 95 % is.
    """
    counts = list((cause.evidence.get("counts") or {}).values())
    score = symptom.evidence.get("train_accuracy")
    if not counts or score is None:
        return True
    return near_chance(score, max(counts) / sum(counts))


def _always(cause: Finding, symptom: Finding) -> bool:
    return True


#: Folds that hold only when the evidence says so: (cause, symptom) -> whether the cause explains it.
FOLD_WHEN: dict[tuple[str, str], Callable[[Finding, Finding], bool]] = {
    ("class_imbalance", "underfitting"): _imbalance_explains,
}


def fold_symptoms(findings: list[Finding]) -> list[Finding]:
    """Fold every symptom that a root cause explains under that cause (:data:`FOLDS`).

    Causes are taken in the causal order of :data:`FOLDS` (the first cause present takes
    a symptom); each takes the symptoms it explains out of the list into its ``because``,
    with the more serious severity of the two (a symptom that broke the run makes its
    cause as serious). A cause explained by an earlier cause is folded with its own symptoms.

    Returns
    -------
    list of Finding
        The causes and the unexplained findings, in their order.
    """
    remaining = list(findings)
    for code, explained in FOLDS.items():
        cause = next((f for f in remaining if f.code == code), None)
        if cause is None:
            continue
        symptoms = tuple(f for f in remaining if f.code in explained and f is not cause
                         and FOLD_WHEN.get((code, f.code), _always)(cause, f))
        if not symptoms:
            continue
        severity = min([cause.severity, *(f.severity for f in symptoms)], key=SEVERITY_RANK.__getitem__)
        folded = replace(cause, severity=severity, because=cause.because + symptoms)
        remaining = [folded if f is cause else f for f in remaining if not any(f is g for g in symptoms)]
    return remaining


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
        for g in f.because:
            lines.append(f"{'':<7}    because: {g.code}: {g.message}")
    return "\n".join(lines)
