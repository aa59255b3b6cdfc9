"""The one writer of a run folder, for ``trainwell fit`` and for estimators fitted in Python.

A run folder holds ``model/``, ``config.json``, ``history.csv``, ``metrics.json`` (with test
rows), the report's inputs ``diagnostics.json`` and ``evaluation.json`` (:mod:`.inputs`), and
``report.html``; ``trainwell fit`` may add ``tensorboard/``. :func:`write_run` writes all of it
but the report, in one atomic step; :func:`save_run` (what ``report=`` on the estimators
calls) also builds the report. ``trainwell report``, ``trainwell info`` and ``trainwell
predict`` read every folder either one writes.

``config.json`` has one format for both. Folders written before it was shared lack some of
its keys (``augmentation`` from the command line; ``test_fraction`` and ``seed`` from
Python); the readers take every key with ``.get``, so they read those folders too.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._files import jsonable, write_atomic_folder
from .._version import __version__
from ..diagnose.findings import Finding
from ..exceptions import DataError
from .html import build_report
from .inputs import report_inputs, test_metrics

__all__ = ["resolved_settings", "run_config", "save_run", "write_run"]

# Not settings of the model: callbacks are objects JSON cannot hold, and checkpoint_dir is the
# fit's scratch space (for ``trainwell fit`` inside the run folder, gone once the run is written).
_UNRECORDED_PARAMS = ("callbacks", "checkpoint_dir")


def run_config(est: Any, source: str | None = None, n_test: int | None = None, *,
               test_fraction: float | None = None, seed: int | None = None) -> dict[str, Any]:
    """The ``config.json`` of a run: estimator, parameters and what their ``"auto"`` became, spec, split sizes.

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor
    source : str, optional
        Where the data came from.
    n_test : int, optional
        Test rows scored for ``metrics.json``.
    test_fraction, seed : optional
        How the test rows were split off, when trainwell split them (``trainwell fit``);
        ``None`` when the caller brought its own.

    Returns
    -------
    dict
        Plain JSON values.
    """
    params = {k: v for k, v in est.get_params(deep=False).items() if k not in _UNRECORDED_PARAMS}
    return {
        "trainwell_version": __version__,
        "source": source,
        "task": "classification" if hasattr(est, "classes_") else "regression",
        "estimator": type(est).__name__,
        "params": jsonable(params),
        "spec": est.spec_.to_dict(),
        "test_fraction": test_fraction,
        "seed": seed,
        "n_train": est.n_train_,
        "n_val": est.n_val_,
        "n_test": n_test,
        "sample_weight": getattr(est, "sample_weight_", None),
        "augmentation": est.augment_.describe() if getattr(est, "augment_", None) is not None else "none",
        "resolved": resolved_settings(est),
    }


def resolved_settings(est: Any, n_train: int | None = None, n_val: int | None = None) -> dict[str, Any]:
    """What the ``"auto"`` parameters became in this fit (the report shows ``auto → 32``).

    Parameters
    ----------
    est : NeuralNetClassifier or NeuralNetRegressor
        Built for the fit (``spec_``, ``device_``; ``train_config_`` and ``loss_`` when set).
    n_train, n_val : int, optional
        Training and validation rows; by default the fitted ``n_train_`` and ``n_val_``
        (MLflow logging passes them while training starts, before those are set).

    Returns
    -------
    dict
        Plain JSON values: the ``resolved`` block of ``config.json``.
    """
    spec, train = est.spec_, getattr(est, "train_config_", None)
    n_fit = (est.n_train_ if n_train is None else n_train) + (est.n_val_ if n_val is None else n_val)
    n_val = est.n_val_ if n_val is None else n_val
    out = {"kind": spec.kind, "hidden": list(spec.hidden), "dropout": spec.dropout, "init": spec.init,
           "conv": [block.channels for block in spec.conv],
           "loss": getattr(getattr(est, "loss_", None), "name", None), "device": str(est.device_),
           "validation_fraction": round(n_val / n_fit, 4) if n_fit else None}
    if train is not None:
        out.update(batch_size=train.batch_size, lr_schedule=train.lr_schedule)
    if hasattr(est, "transform_"):  # missing="auto" became: fill gaps with training medians, or refuse NaN
        out["missing"] = "median" if getattr(est.transform_, "fill", None) is not None else "error"
        # numeric_encoding="auto" became: bins on some columns, or none
        out["numeric_encoding"] = "piecewise" if getattr(est.transform_, "bins", None) else "none"
    if getattr(est, "threads_", None) is not None or est.device_.type == "cpu":
        import torch

        # threads="auto" became a count (None: torch's default, every core, read here)
        out["threads"] = est.threads_ if est.threads_ is not None else torch.get_num_threads()
    return jsonable(out)


def _check_target(target: Path, replaceable: Sequence[str]) -> None:
    """Refuse a folder of other files before anything is computed (the writer refuses it too, later)."""
    if not target.is_dir() or (target / "config.json").exists():
        return
    if any(p.name not in replaceable and not p.name.startswith(".") for p in target.iterdir()):
        raise DataError(f"{target} is a folder that holds other files; give a new folder (or an earlier run folder to replace).")


def _history_csv(est: Any) -> bytes:
    text = io.StringIO()
    est.history_.to_frame().to_csv(text, index=False)
    return text.getvalue().encode()


def write_run(est: Any, run_dir: str | os.PathLike, X_test: Any = None, y_test: Any = None, *,
              findings: Sequence[Finding] | None = None, source: str | None = None, report: bool = True,
              test_fraction: float | None = None, seed: int | None = None, fit_seconds: float | None = None,
              writers: dict[str, Callable[[Path], Any]] | None = None,
              replaceable: tuple[str, ...] = ()) -> dict[str, Any]:
    """Write the run folder of a fitted estimator, all of it at once, without ``report.html``.

    The test rows are predicted once, here: ``metrics.json`` and ``evaluation.json`` hold
    the same scores.

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor
    run_dir : str or path-like
        A new folder, or an earlier run folder to replace.
    X_test, y_test : array-like, optional
        Held-out rows for ``metrics.json`` and the report's test-split plots.
    findings : sequence of Finding, optional
        By default the estimator's ``findings_``.
    source : str, optional
        Where the data came from, shown in the report's title.
    report : bool, default=True
        Write the report's inputs (``diagnostics.json``, ``evaluation.json``).
    test_fraction, seed : optional
        How trainwell split the test rows off, recorded in ``config.json``.
    fit_seconds : float, optional
        The fit's wall time, recorded in ``metrics.json``.
    writers : dict of str to callable, optional
        More entries of the folder, ``{name: f(path)}`` (``trainwell fit``'s ``tensorboard``).
    replaceable : tuple of str, default=()
        Entries of an existing ``run_dir`` that may be replaced though it holds no
        ``config.json`` yet (the checkpoint of the interrupted run being finished).

    Returns
    -------
    dict
        What ``metrics.json`` holds: the test metrics, ``fit_seconds`` when given, ``epochs``
        and ``best_epoch``; empty (and no ``metrics.json``) without test rows.
    """
    from ..persist import save_model

    if (X_test is None) != (y_test is None):
        raise DataError("Give both X_test and y_test (or neither) for the run's test metrics.")
    target = Path(run_dir)
    _check_target(target, replaceable)
    scored = None if X_test is None else test_metrics(est, X_test, y_test)
    files = report_inputs(est, X_test, y_test, findings, scored=scored) if report else {}
    config = run_config(est, source, None if y_test is None else len(y_test), test_fraction=test_fraction, seed=seed)
    files["history.csv"] = _history_csv(est)
    files["config.json"] = json.dumps(config, indent=2, default=str).encode()
    metrics: dict[str, Any] = {}
    if scored is not None:
        metrics = dict(scored[0])
        if fit_seconds is not None:
            metrics["fit_seconds"] = fit_seconds
        metrics.update(epochs=est.n_iter_, best_epoch=est.best_epoch_)
        files["metrics.json"] = json.dumps(metrics, indent=2).encode()
    entries = {"model": lambda tmp: save_model(est, tmp), **(writers or {})}
    write_atomic_folder(target, files, entries, marker="config.json", replaceable=replaceable)
    return metrics


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

    See Also
    --------
    write_run : the folder without the report, with the options ``trainwell fit`` uses.
    """
    write_run(est, run_dir, X_test, y_test, findings=findings, source=source)
    return build_report(run_dir)
