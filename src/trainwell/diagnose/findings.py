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
