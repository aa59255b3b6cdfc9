"""What a search found, read back from its Optuna studies.

:class:`TuneResult` is what :func:`~trainwell.tune.tune` returns; :func:`trials_frame`,
:func:`best_trial` and :func:`params_of` read the studies of a search, whichever process ran
their trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from ..exceptions import ConfigError
from .border import BorderWarning
from .space import Param, decode

__all__ = ["TuneResult", "best_trial", "params_of", "trials_frame"]


@dataclass(eq=False)
class TuneResult:
    """What :func:`tune` found.

    Attributes
    ----------
    best_params : dict
        The best configuration of the refine stage (searched parameters only).
    best_score : float
        Its validation score (``metric``: loss is lower-is-better, accuracy and R² higher).
    metric : str
    trials : pandas.DataFrame
        One row per trial of every stage: stage, state, score, parameters, epochs, seconds, note.
    warnings : list of str
        The border warnings as sentences (empty when no best value lies on a border).
    best_estimator : estimator or None
        A clone of the estimator with the best configuration, refit on all the data given.
    border : list of BorderWarning
        The border warnings as data.
    spaces : dict of str to dict
        The ranges each stage searched, by study name (plain data).
    storage : str
        Where the trials are kept.
    run_dir : Path or None
    report_path : Path or None
    seconds : float
        Wall time of the search (without the refit).
    notes : list of str
        Other things the search wants the user to know.
    confirmation : object or None
        The ``trainwell.compare`` result of ``confirm=K``.
    """

    best_params: dict[str, Any]
    best_score: float
    metric: str
    trials: pd.DataFrame
    warnings: list[str]
    best_estimator: Any = None
    border: list[BorderWarning] = field(default_factory=list)
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    storage: str = ""
    run_dir: Path | None = None
    report_path: Path | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    confirmation: Any = None

    def __str__(self) -> str:
        from ..report.notebook import param_text

        done = self.trials[self.trials["state"].isin(["COMPLETE", "PRUNED"])] if len(self.trials) else self.trials
        lines = [
            f"{len(done)} trials in {self.seconds:.1f} s; best validation {self.metric} {self.best_score:.4f} with "
            + ", ".join(f"{k}={param_text(v, 3)}" for k, v in self.best_params.items())
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


    def _repr_html_(self) -> str:
        """Jupyter's view: best score and settings, trials, warnings, run folder, best-so-far plot."""
        from ..report.notebook import SMALL_DPI, tune_html
        from ..report.plots import to_png
        from .objective import METRICS
        from .report import progress_figure

        direction = METRICS[self.metric][1] if self.metric in METRICS else "minimize"
        png = None
        if len(self.trials) and self.trials["score"].notna().any():
            png = to_png(progress_figure(self.trials, direction, self.metric), dpi=SMALL_DPI)
        return tune_html(self, png, "lower" if direction == "minimize" else "higher")


def _trial_row(t: optuna.trial.FrozenTrial, searched: dict[str, Param]) -> dict[str, Any]:
    """One row of the trials table: state, score, searched values and what the trial recorded."""
    row: dict[str, Any] = {"number": t.number, "state": t.state.name, "score": t.value}
    for name in searched:
        row[name] = t.params.get(name)
    for key in ("epochs", "best_epoch", "seconds", "val_loss", "val_accuracy", "val_r2", "note"):
        if key in t.user_attrs:
            row[key] = t.user_attrs[key]
    if t.user_attrs.get("baseline"):
        row["note"] = "baseline: the estimator's own settings"
    if t.state == TrialState.FAIL and "note" not in row:
        row["note"] = "failed (its worker stopped); retried" if "worker" in t.user_attrs else "failed"
    row["worker"] = t.user_attrs.get("worker", "").rsplit(":", 1)[0]
    row["start"] = t.datetime_start
    return row


def trials_frame(storage: Any, studies: list[tuple[str, int, str]], searched: dict[str, Param]) -> pd.DataFrame:
    """One row per trial of the ``(study name, round, stage)`` studies (surplus and queued ones left out)."""
    rows = []
    for study_name, round_, stage in studies:
        try:
            study = optuna.load_study(study_name=study_name, storage=storage)
        except KeyError:
            continue
        for t in study.get_trials(deepcopy=False):
            if t.user_attrs.get("surplus") or t.state == TrialState.WAITING:
                continue
            rows.append({"study": study_name, "round": round_, "stage": stage, **_trial_row(t, searched)})
    return pd.DataFrame(rows)


def best_trial(storage: Any, names: list[str], direction: str) -> optuna.trial.FrozenTrial:
    """The complete trial with the best finite score over the studies ``names``."""
    best: optuna.trial.FrozenTrial | None = None
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.value is None or not math.isfinite(t.value):
                continue
            better = best is None or (t.value < best.value if direction == "minimize" else t.value > best.value)
            if better:
                best = t
    if best is None:
        raise ConfigError("No trial of the refine stage finished with a score; widen the ranges or give more trials.")
    return best


def params_of(trial: optuna.trial.FrozenTrial, searched: dict[str, Param], estimator: Any) -> dict[str, Any]:
    """The searched parameters of a trial; the estimator's own values for the baseline."""
    if trial.user_attrs.get("baseline"):
        own = estimator.get_params(deep=False)
        return {name: own[name] for name in searched}
    return decode(searched, trial.params)
