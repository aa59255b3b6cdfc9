"""A lab result as a block of Markdown: what the documentation's guide pages show."""

from __future__ import annotations

import json
from typing import Any

from ._registry import LabResult


def _scalars(numbers: dict[str, Any]) -> list[tuple[str, str]]:
    """Top-level numbers and one level of named numbers (e.g. accuracy per activation), as table rows."""
    rows = []
    for key, value in numbers.items():
        if isinstance(value, dict) and value and all(isinstance(v, (int, float, str, bool)) or v is None
                                                     for v in value.values()):
            rows.append((key, ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())))
        elif isinstance(value, (int, float, str, bool)) or value is None:
            rows.append((key, _fmt(value)))
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "/")


def to_markdown(result: LabResult, image: str) -> str:
    """Render ``result`` for a documentation page.

    Parameters
    ----------
    result : LabResult
    image : str
        The figure's path relative to the page's Markdown file.

    Returns
    -------
    str
        An admonition with the summary (green when the claim held, red when not), the
        figure, a table of the headline numbers and every number as JSON in a fold.
    """
    if result.holds is None:
        kind, verdict = "info", "measured in this build"
    elif result.holds:
        kind, verdict = "success", "measured in this build: the notes' claim holds"
    else:
        kind, verdict = "failure", "measured in this build: the notes' claim does not (fully) hold"
    table = "\n".join(f"| `{k}` | {v} |" for k, v in _scalars(result.numbers))
    numbers = json.dumps(result.to_dict()["numbers"], indent=2)
    numbers = "\n".join("    " + line for line in numbers.splitlines())
    quick = " (quick mode)" if result.quick else ""
    return (
        f'!!! {kind} "{verdict.capitalize()}"\n\n    {result.summary}\n\n'
        f"![{result.title}]({image})\n\n"
        f"| number | value |\n|---|---|\n{table}\n\n"
        f'??? note "Every number this run measured (JSON)"\n\n    ```json\n{numbers}\n    ```\n\n'
        f"<small>Ran in {result.seconds:.1f} s on one CPU core{quick} during this build: "
        f"`trainwell lab {result.name}` or `trainwell.lab.run(\"{result.name}\")` reproduces it.</small>\n"
    )
