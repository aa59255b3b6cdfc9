"""Where the commands' output goes, and in what form.

Results on stdout: test metrics, findings, the run folder, predictions, a description.
Progress, warnings and notes on stderr. With ``--json`` a command's stdout holds one JSON
object (``predict``: one per row) and nothing else; :func:`finding_record` is the form every
command gives a finding there, and :func:`print_json` writes the object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._files import jsonable

__all__ = ["add_output_flags", "finding_record", "fit_result", "print_json", "print_outcome",
           "print_fit_results", "unseen_class_note", "warnings_on"]

_SHOWN = ("accuracy", "balanced_accuracy", "log_loss", "r2", "rmse", "mae")


def add_output_flags(p: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``--json`` of the commands that train (``fit``, ``demo``)."""
    p.add_argument("--quiet", action="store_true",
                   help="print no progress and no summary (errors still go to stderr; --json still prints)")
    p.add_argument("--json", action="store_true",
                   help="print the results as one JSON object on stdout (run folder, metrics, findings), nothing else")


def print_json(result: Any) -> None:
    """``result`` as one line of JSON on stdout (numpy values unpacked, NaN and inf as ``null``)."""
    print(json.dumps(jsonable(result)))


def finding_record(finding: Any) -> dict[str, Any]:
    """A finding as ``--json`` shows it: ``code``, ``severity``, ``message`` and ``advice``; ``fix``
    (the advised parameters) and ``because`` (the symptoms folded under it) when it has them.

    Parameters
    ----------
    finding : Finding or dict
        A :class:`~trainwell.diagnose.findings.Finding`, or one read back from ``diagnostics.json``.

    Returns
    -------
    dict
    """
    get = finding.get if isinstance(finding, dict) else lambda key: getattr(finding, key, None)
    record: dict[str, Any] = {key: str(get(key) or "") for key in ("code", "severity", "message", "advice")}
    if get("fix"):
        record["fix"] = dict(get("fix"))
    if get("because"):  # the symptoms folded under this cause
        record["because"] = [finding_record(g) for g in get("because")]
    return record


def fit_result(est: Any, metrics: dict[str, Any], out_path: Path, *, task: str, source: str,
               report: Path | None) -> dict[str, Any]:
    """What ``trainwell fit --json`` prints: one JSON-ready object with the run's results.

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor
    metrics : dict
        What ``metrics.json`` holds.
    out_path : Path
        The run folder.
    task, source : str
        The task, and where the data came from.
    report : Path or None
        ``report.html``, when it was written.

    Returns
    -------
    dict
        ``run_folder``, ``report``, ``task``, ``source``, ``metrics``, ``findings`` (every
        finding, most serious first, as :func:`finding_record`) and ``speed`` (sentences).
    """
    from ..diagnose.findings import rank
    from ..diagnose.speed import step_time_advice

    return jsonable({
        "run_folder": str(out_path),
        "report": None if report is None else str(report),
        "task": task,
        "source": source,
        "metrics": metrics,
        "findings": [finding_record(f) for f in rank(list(getattr(est, "findings_", None) or []))],
        "speed": step_time_advice(getattr(getattr(est, "run_", None), "step_time", None)),
    })


def trivial_baseline_note(est: Any, metrics: dict[str, Any]) -> str | None:
    """A sentence when the test score is no better than a model that learnt nothing, else ``None``.

    R² below 0 is worse than always predicting the training mean; accuracy at or below the share
    of the training rows' most common class is what always answering that class scores.
    """
    r2 = metrics.get("r2")
    if isinstance(r2, (int, float)) and r2 < 0:
        return (f"the test R² is {r2:.3f}, below 0: the model predicts the test rows worse than always answering "
                "the training mean would; the features may say little about the target.")
    accuracy, counts = metrics.get("accuracy"), getattr(est, "class_counts_", None)
    if isinstance(accuracy, (int, float)) and counts is not None and sum(counts) > 0:
        majority = max(counts) / sum(counts)
        if accuracy <= majority:
            return (f"the test accuracy {accuracy:.1%} is no better than always answering the most common training "
                    f"class ({majority:.1%} of the training rows); judge it by balanced accuracy or log loss too.")
    return None


def print_outcome(console: Any, est: Any, metrics: dict[str, Any], out_path: Path) -> None:
    """The test metrics, what the diagnostics noticed, the step-time advice and the folder (the results)."""
    from rich.markup import escape

    from ..diagnose.speed import step_time_advice

    # log_loss is None when no test row has a class the model knows: nothing to show then
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k in _SHOWN and isinstance(v, (int, float)))
    console.print(f"[bold green]test[/bold green]: {shown}  ({est.n_iter_} epochs, best {est.best_epoch_}, "
                  f"{metrics['fit_seconds']:.1f}s)")
    baseline = trivial_baseline_note(est, metrics)
    if baseline:
        console.print(f"  note: {escape(baseline)}")
    serious = [f for f in getattr(est, "findings_", []) if f.severity != "info"]
    if serious:
        console.print("[bold]what trainwell noticed[/bold] (most serious first):")
        for f in serious:
            colour = "red" if f.severity == "error" else "yellow"
            advice = f" Try: {f.advice}" if f.advice else ""
            # escaped: a message quoting a list ("[relu]") is text, not a style tag
            console.print(f"  [{colour}]{f.severity}[/{colour}] {f.code}: {escape(f.message + advice)}")
            for g in getattr(f, "because", ()):  # the symptoms this cause explains, indented under it
                console.print(f"      because {g.code}: {escape(g.message)}")
    notes_shown = False
    if not serious and getattr(est, "findings_", None):
        # no warnings, but notes that say what to try (e.g. an early best epoch): never "nothing to worry about"
        console.print("what trainwell noticed: no warnings or errors; notes:")
        for f in est.findings_:
            advice = f" Try: {f.advice}" if f.advice else ""
            console.print(f"  info {f.code}: {escape(f.message + advice)}")
        notes_shown = True
    elif not serious and getattr(est, "findings_", None) is not None:
        console.print("what trainwell noticed: nothing to worry about (no warnings or errors).")
    for f in [] if notes_shown else getattr(est, "findings_", None) or []:
        if f.code == "missing_filled":  # information, but it changed the data: always said (once)
            console.print(f"  info {f.code}: {escape(f.message)}")
    speed = step_time_advice(getattr(getattr(est, "run_", None), "step_time", None))
    if speed:
        console.print(f"speed: {escape(' '.join(speed))}")
    console.print(f"run folder: {escape(str(out_path))}")


def print_fit_results(console: Any, results: Any, est: Any, metrics: dict[str, Any], out_path: Path, page: Any, *,
                   as_json: bool, task: str, source: str) -> None:
    """After a fit: a note on stderr about classes the test rows lacked; the outcome on stdout (lines, or JSON)."""
    note = unseen_class_note(metrics)
    if note:
        console.print(note, markup=False)
    print_outcome(results, est, metrics, out_path)
    if page is not None:
        results.print(f"report: {page}", markup=False)
    if as_json:
        print_json(fit_result(est, metrics, out_path, task=task, source=source, report=page))


def unseen_class_note(metrics: dict[str, Any]) -> str | None:
    """One note when some test rows belong to classes the training rows lacked; ``None`` otherwise."""
    n_unseen = metrics.get("n_test_unseen_class") or 0
    if not n_unseen:
        return None
    scored = metrics["n_test"] - n_unseen
    return (f"note: {n_unseen} of {metrics['n_test']} test rows belong to classes the model never saw in training "
            f"(too few rows of them to reach the training split); they count as errors in the accuracies, and the "
            f"log loss is over the other {scored} rows. Collect more rows of the rare classes or merge them.")


@contextlib.contextmanager
def warnings_on(console: Any) -> Iterator[None]:
    """Show the warnings raised inside as one console line each (not Python's, with a file path)."""
    from rich.markup import escape

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        console.print(f"[yellow]warning:[/yellow] {escape(str(w.message))}")
