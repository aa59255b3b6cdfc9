"""The one type every diagnostic returns: a :class:`Finding`, advice as data before prose."""

from __future__ import annotations

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


def rank(findings: list[Finding]) -> list[Finding]:
    """Most serious first (errors, then warnings, then info), stable within a severity."""
    return sorted(findings, key=lambda f: SEVERITY_RANK[f.severity])


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
