"""What a report needs from a fitted estimator, saved as JSON beside the model in the run folder.

A report reads only files (:mod:`.record`), so everything it shows that is not already in
``model/`` (spec, history, weights), ``config.json``, ``metrics.json`` or ``history.csv`` is
written here, once, at the end of a fit:

``diagnostics.json``
    The monitors' per-layer series (``row["layers"]`` of every history row, see
    :mod:`trainwell.diagnose.probes`), their histograms (thinned to at most
    :data:`MAX_HIST_EPOCHS` epochs), what the run reported besides its history (initial
    loss, divergence, the fast path, the step time: :func:`run_summary`), the ranked
    findings, a data summary and the library versions.
``evaluation.json``
    The test split: confusion matrix (classifiers) or predicted-vs-true pairs (regressors,
    at most :data:`MAX_POINTS`), and the test metrics.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .._files import jsonable, write_file_atomic
from .._version import __version__
from ..diagnose.findings import Finding, rank
from ..diagnose.probes.base import LAYERS_KEY
from ..exceptions import DataError

DIAGNOSTICS = "diagnostics.json"
EVALUATION = "evaluation.json"
FORMAT = "trainwell-report-inputs"
FORMAT_VERSION = 1
#: Histograms kept per layer: enough to see a distribution move, small enough for a 1 MB file.
MAX_HIST_EPOCHS = 60
#: Predicted-vs-true pairs kept for a regression scatter plot.
MAX_POINTS = 2000
_HIST_KEYS = ("act_hist", "grad_hist")
_VERSIONED = ("torch", "numpy", "scipy", "scikit-learn", "pandas", "safetensors", "rich", "matplotlib")


def _thin(n: int, keep: int) -> list[int]:
    """At most ``keep`` indices of ``range(n)``, evenly spread, first and last always kept."""
    if n <= keep:
        return list(range(n))
    return sorted({round(i * (n - 1) / (keep - 1)) for i in range(keep)})


def layer_series(history: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The probes' per-layer records as one series per statistic.

    Parameters
    ----------
    history : sequence of dict
        History rows; per-layer statistics are under ``row["layers"][layer][stat]``.

    Returns
    -------
    dict
        ``{layer: {"activation": kind, "series": {stat: [value per epoch]},
        "hist": {"act_hist": [{"epoch", "edges", "counts"}, ...], "grad_hist": [...]}}}``;
        empty when no monitor recorded anything.
    """
    names: list[str] = []
    for row in history:
        for name in row.get(LAYERS_KEY, {}) or {}:
            if name not in names:
                names.append(name)
    out: dict[str, Any] = {}
    for name in names:
        stats = [row.get(LAYERS_KEY, {}).get(name, {}) for row in history]
        keys: list[str] = []
        kind = None
        for s in stats:
            kind = kind or s.get("activation")
            keys += [k for k, v in s.items() if k not in keys and isinstance(v, (int, float)) and not isinstance(v, bool)]
        hists: dict[str, list[dict[str, Any]]] = {}
        for key in _HIST_KEYS:
            found = [(row["epoch"], s[key]) for row, s in zip(history, stats, strict=True) if s.get(key)]
            hists[key] = [{"epoch": found[i][0], **found[i][1]} for i in _thin(len(found), MAX_HIST_EPOCHS)]
        out[name] = {
            "activation": kind,
            "series": {k: [s.get(k) for s in stats] for k in keys},
            "hist": {k: v for k, v in hists.items() if v},
        }
    return out


def run_summary(est: Any) -> dict[str, Any]:
    """What the run reported besides its history: initial loss, divergence, the fast path.

    The keys are ``diagnostics.json``'s ``run`` section, which the report reads back.
    """
    run = getattr(est, "run_", None)
    return {
        "loss": getattr(getattr(est, "loss_", None), "name", None),
        "epochs": getattr(est, "n_iter_", None),
        "best_epoch": getattr(est, "best_epoch_", None),
        "stop_reason": getattr(est, "stop_reason_", None),
        "initial_loss": getattr(run, "initial_loss", None),
        "initial_weight_rms": getattr(run, "initial_weight_rms", None),
        "diverged": getattr(run, "diverged", None),
        "fast_path": getattr(run, "fast_path", None),
        "cuda_graphs": getattr(run, "cuda_graphs", None),
        "steps_per_epoch": getattr(run, "steps_per_epoch", None),
        "step_time": getattr(run, "step_time", None),
    }


def data_summary(est: Any, y_test: Any = None) -> dict[str, Any]:
    """Rows, features, classes and split sizes of the fit."""
    transform = getattr(est, "transform_", None)
    names = getattr(est, "feature_names_in_", None)
    summary: dict[str, Any] = {
        "n_train": getattr(est, "n_train_", None),
        "n_val": getattr(est, "n_val_", None),
        "n_test": None if y_test is None else len(y_test),
        "n_features_in": getattr(est, "n_features_in_", None),
        "sample_shape": list(getattr(transform, "sample_shape", ()) or ()),
        "scaling": getattr(transform, "scaling", None),
        "feature_names": [str(c) for c in names] if names is not None else None,
    }
    classes = getattr(est, "classes_", None)
    if classes is not None:
        summary["classes"] = [str(c) for c in classes]
        if y_test is not None:
            values, counts = np.unique(np.asarray(y_test).astype(str), return_counts=True)
            summary["test_class_counts"] = dict(zip(values.tolist(), counts.tolist(), strict=True))
    return summary


def environment(est: Any = None) -> dict[str, Any]:
    """Versions of Python, trainwell and the libraries it trains with, and the device."""
    versions = {"python": platform.python_version(), "trainwell": __version__}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    device = getattr(est, "device_", None)
    env: dict[str, Any] = {"versions": versions, "platform": platform.platform(), "device": str(device) if device else None}
    if device is not None and getattr(device, "type", None) == "cuda":
        import torch

        env["device_name"] = torch.cuda.get_device_name(device)
    return env


def test_metrics(est: Any, X_test: Any, y_test: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test metrics and the data behind the confusion matrix or predicted-vs-true plot.

    The one place the test rows of a run are predicted and scored: the run folder's
    ``metrics.json`` and ``evaluation.json``, and the metrics ``trainwell fit`` and
    ``trainwell tune`` print, all come from one call.

    A test row whose class the model never saw in training (a rare class that the split put
    only into the test rows) is scored, not refused: it counts as an error in ``accuracy``
    and as a class of recall 0 in ``balanced_accuracy`` (the mean recall over the classes
    that occur in ``y_test``); ``log_loss`` is over the other rows, since the model gives
    such a class no probability at all. ``n_test_unseen_class`` counts those rows (present
    only when there are some).

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor
    X_test, y_test : array-like
        The held-out rows and their targets.

    Returns
    -------
    scores : dict
        ``accuracy``, ``balanced_accuracy``, ``log_loss`` (``None`` when no test row has a
        class the model knows), ``n_test_unseen_class`` when there are such rows (classifiers)
        or ``r2``, ``rmse``, ``mae`` (regressors), and ``n_test``.
    evaluation : dict
        The confusion matrix (classifiers; over the model's classes, then the test rows'
        unseen ones) or at most :data:`MAX_POINTS` predicted-vs-true pairs (regressors),
        with the task.
    """
    from sklearn import metrics

    y_true = np.asarray(y_test)
    classes = getattr(est, "classes_", None)
    if classes is not None:
        return _classification_scores(np.asarray(classes), y_true, est.predict_proba(X_test))
    pred = np.asarray(est.predict(X_test), dtype=float)
    y_true = y_true.astype(float)
    scores = {
        "r2": float(metrics.r2_score(y_true, pred)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, pred))),
        "mae": float(metrics.mean_absolute_error(y_true, pred)),
        "n_test": len(y_true),
    }
    keep = np.asarray(_thin(len(y_true), MAX_POINTS))
    two_d = lambda a: a.reshape(len(a), -1)  # noqa: E731
    return scores, {"task": "regression", "y_true": two_d(y_true)[keep].tolist(), "y_pred": two_d(pred)[keep].tolist()}


def _classification_scores(classes: np.ndarray, y_true: np.ndarray,
                           proba: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`test_metrics` of a classifier, computed here rather than with scikit-learn's
    functions: those refuse (or warn about) test labels outside the model's classes, which a
    split of rare classes produces; the arithmetic is theirs."""
    index = {c: i for i, c in enumerate(classes.tolist())}
    truth = y_true.tolist()
    unseen_set = {c for c in truth if c not in index}
    try:
        unseen = sorted(unseen_set)
    except TypeError:  # labels of mixed types: any stable order will do
        unseen = sorted(unseen_set, key=str)
    labels = [*classes.tolist(), *unseen]  # the model's classes, then those only the test rows have
    index.update({c: len(classes) + i for i, c in enumerate(unseen)})
    true_codes = np.fromiter((index[c] for c in truth), dtype=np.int64, count=len(truth))
    pred_codes = proba.argmax(1)
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (true_codes, pred_codes), 1)
    support = confusion.sum(axis=1)
    occurring = support > 0  # balanced accuracy: mean recall over the classes the test rows have
    known = true_codes < len(classes)
    log_loss = None
    if known.any():
        # scikit-learn's log loss: probabilities clipped to the dtype's eps; float64 for the mean
        eps = np.finfo(proba.dtype).eps if proba.dtype.kind == "f" else np.finfo(np.float64).eps
        p_true = np.clip(proba[np.flatnonzero(known), true_codes[known]].astype(np.float64), eps, 1 - eps)
        log_loss = float(-np.log(p_true).mean())
    scores: dict[str, Any] = {
        "accuracy": float(np.trace(confusion) / len(truth)),
        "balanced_accuracy": float((np.diag(confusion)[occurring] / support[occurring]).mean()),
        "log_loss": log_loss,
        "n_test": len(truth),
    }
    if not known.all():  # only then: metrics.json keeps its usual keys in the usual case
        scores["n_test_unseen_class"] = int((~known).sum())
    evaluation = {"task": "classification", "labels": [str(c) for c in labels], "confusion": confusion.tolist()}
    return scores, evaluation


def report_inputs(est: Any, X_test: Any = None, y_test: Any = None,
                  findings: Sequence[Finding] | None = None, *,
                  scored: tuple[dict[str, Any], dict[str, Any]] | None = None) -> dict[str, bytes]:
    """The report's input files for a fitted estimator, as ``{file name: bytes}``.

    Give the result to :func:`trainwell._files.write_atomic_folder` with the other files
    of a run folder, so the whole folder appears at once.

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor
        Per-layer plots need the diagnostics monitors (``diagnostics=True``, the default);
        without them the report shows the curves and says what is missing.
    X_test, y_test : array-like, optional
        The held-out test rows, for the confusion matrix or predicted-vs-true plot.
    findings : sequence of Finding, optional
        Findings to show (e.g. ``check(...) + est.findings_``); by default the estimator's
        ``findings_`` (or :func:`trainwell.diagnose.advise` on its run).
    scored : tuple of (dict, dict), optional
        What :func:`test_metrics` returned for ``X_test, y_test``, when the caller has it
        already: the test rows are then not predicted a second time.

    Returns
    -------
    dict of str to bytes
        ``diagnostics.json`` and, with a test split, ``evaluation.json``.
    """
    if not hasattr(est, "history_"):
        raise DataError("The estimator is not fitted; call fit before writing its report inputs.")
    if (X_test is None) != (y_test is None):
        raise DataError("Give both X_test and y_test (or neither) for the report's test-split plots.")
    if findings is None:
        findings = getattr(est, "findings_", None)
    if findings is None:  # an estimator without diagnostics of its own: judge its run here
        from ..diagnose.advice import advise

        run = getattr(est, "run_", None)
        findings = advise(est, run) if run is not None else []
    diagnostics = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "layers": layer_series(est.history_),
        "run": run_summary(est),
        "findings": [dataclasses.asdict(f) for f in rank(list(findings))],
        "data": data_summary(est, y_test),
        "environment": environment(est),
    }
    files = {DIAGNOSTICS: json.dumps(jsonable(diagnostics), separators=(",", ":")).encode()}
    if X_test is not None:
        scores, evaluation = scored if scored is not None else test_metrics(est, X_test, y_test)
        evaluation = {**evaluation, "metrics": scores}
        files[EVALUATION] = json.dumps(jsonable(evaluation), separators=(",", ":")).encode()
    return files


def write_report_inputs(est: Any, X_test: Any, y_test: Any, run_dir: str | os.PathLike,
                        findings: Sequence[Finding] | None = None) -> list[Path]:
    """Write :func:`report_inputs` into an existing run folder, each file atomically.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give the run folder the model was written to.")
    written = []
    for name, data in report_inputs(est, X_test, y_test, findings).items():
        write_file_atomic(folder / name, data)
        written.append(folder / name)
    return written
