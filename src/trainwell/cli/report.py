"""``trainwell report RUN_DIR``, the report flags of ``trainwell fit`` / ``demo``, and fit's MLflow run."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_mlflow_flag", "add_parser", "add_report_flags", "cmd_report", "finish_tracking", "mlflow_tracker",
           "tracking"]


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild ``report.html`` in a run folder and print its path."""
    from ..report.html import build_report

    t0 = time.perf_counter()
    path = build_report(args.run_dir)
    print(path)
    if not args.quiet:
        print(f"report written in {time.perf_counter() - t0:.1f}s; open it in a browser (it works offline)", file=sys.stderr)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell report RUN_DIR`` on the CLI's subparsers."""
    p = subparsers.add_parser("report", help="(re)build report.html in a run folder from its files")
    p.add_argument("run_dir", help="run folder written by 'trainwell fit' or 'trainwell demo'")
    p.add_argument("--quiet", action="store_true", help="print only the report's path")
    p.set_defaults(func=cmd_report)


def add_report_flags(p: argparse.ArgumentParser) -> None:
    """``--no-report``, ``--tensorboard`` and ``--mlflow`` for the commands that train."""
    g = p.add_argument_group("reports")
    g.add_argument("--no-report", action="store_true", help="skip report.html (and its diagnostics) in the run folder")
    g.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard events (scalars, histograms) to RUN_DIR/tensorboard")
    add_mlflow_flag(g, "the parameters, per-epoch metrics, findings and the run folder")


def add_mlflow_flag(p: argparse.ArgumentParser | argparse._ArgumentGroup, what: str) -> None:
    """``--mlflow [URI]``: record ``what`` in MLflow (the estimators' ``mlflow`` parameter)."""
    p.add_argument("--mlflow", nargs="?", const=True, default=False, metavar="URI",
                   help=f"record {what} in MLflow: at URI (e.g. sqlite:///mlflow.db or http://host:5000), else "
                        "MLFLOW_TRACKING_URI, else MLflow's default ./mlflow.db; needs pip install trainwell[mlflow]")


def mlflow_tracker(mlflow: bool | str, run_name: str) -> Any:
    """Fit's MLflow logger for ``--mlflow`` (``None`` without it).

    It is fit's own, not the estimator's ``mlflow``: the run it records ends after the run
    folder is written, with the folder in it (:func:`finish_tracking`).
    """
    if mlflow is False:
        return None
    from ..report.mlflow_log import MlflowLogger

    return MlflowLogger(mlflow, run_name=run_name, end_with_fit=False)


def tracking(tracker: Any) -> Any:
    """A block in which an exception ends the MLflow run as ``FAILED`` (nothing without one)."""
    return tracker.failing_on_error() if tracker is not None else contextlib.nullcontext()


def finish_tracking(tracker: Any, est: Any, out_path: Path, metrics: dict[str, Any], console: Any) -> None:
    """End fit's MLflow run, if any: the findings, the run folder, the test metrics (``test_accuracy``...)."""
    if tracker is None:
        return
    scores = {"test_" + k: float(v) for k, v in metrics.items() if isinstance(v, float) and k != "fit_seconds"}
    tracker.finish(findings=est.findings_, run_dir=out_path, extra=scores)
    console.print(f"MLflow run {tracker.run_id} in {tracker.uri}", markup=False)
