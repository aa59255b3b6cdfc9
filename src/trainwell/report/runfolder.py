"""A complete run folder for a model fitted through the Python API, and its report.

``trainwell fit`` writes run folders from the command line; :func:`save_run` writes the same
layout for an estimator fitted in Python (what ``report=`` on the estimators calls), so
``trainwell report``, ``trainwell info`` and ``trainwell predict`` work on both.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._files import jsonable
from .._version import __version__
from ..diagnose.findings import Finding
from ..exceptions import DataError
from .html import build_report
from .inputs import EVALUATION, report_inputs


def run_config(est: Any, source: str | None = None, n_test: int | None = None) -> dict[str, Any]:
    """The ``config.json`` of a run: estimator, parameters, network spec and split sizes."""
    return {
        "trainwell_version": __version__,
        "source": source,
        "task": "classification" if hasattr(est, "classes_") else "regression",
        "estimator": type(est).__name__,
        "params": {k: jsonable(v) for k, v in est.get_params(deep=False).items() if k != "callbacks"},
        "spec": est.spec_.to_dict(),
        "n_train": est.n_train_,
        "n_val": est.n_val_,
        "n_test": n_test,
        "augmentation": est.augment_.describe() if getattr(est, "augment_", None) is not None else "none",
    }


def save_run(est: Any, run_dir: str | os.PathLike, X_test: Any = None, y_test: Any = None, *,
             findings: Sequence[Finding] | None = None, source: str | None = None) -> Path:
    """Write a run folder for a fitted estimator and build its ``report.html``.

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor
        Fitted with ``diagnostics=True`` (the default) for the per-layer plots.
    run_dir : str or path-like
        A new folder, or an earlier run folder to replace.
    X_test, y_test : array-like, optional
        Held-out rows for the test metrics and the confusion matrix / predicted-vs-true plot.
    findings : sequence of Finding, optional
        By default the estimator's ``findings_``.
    source : str, optional
        Where the data came from, shown in the report's title.

    Returns
    -------
    Path
        The ``report.html`` file inside ``run_dir``.
    """
    from .._files import write_atomic_folder
    from ..persist import save_model

    target = Path(run_dir)
    if target.is_dir() and any(target.iterdir()) and not (target / "config.json").exists():
        raise DataError(f"{target} is a folder that holds other files; give a new folder (or an earlier run folder to replace).")
    files = report_inputs(est, X_test, y_test, findings)
    config = run_config(est, source, None if y_test is None else len(y_test))
    history_csv = io.StringIO()
    est.history_.to_frame().to_csv(history_csv, index=False)
    files["history.csv"] = history_csv.getvalue().encode()
    files["config.json"] = json.dumps(config, indent=2, default=str).encode()
    if EVALUATION in files:
        metrics = dict(json.loads(files[EVALUATION])["metrics"])
        metrics.update(epochs=est.n_iter_, best_epoch=est.best_epoch_)
        files["metrics.json"] = json.dumps(metrics, indent=2).encode()
    write_atomic_folder(target, files, {"model": lambda tmp: save_model(est, tmp)}, marker="config.json")
    return build_report(target)
