"""One trial of a search: train the estimator with the sampled parameters and score it.

The score is the estimator's own validation split, the one early stopping watches: with
the search's fixed ``random_state`` every trial trains on the same rows and is scored on the
same held-out rows, so trials are compared on identical data (a paired comparison), and no
extra rows are taken from training. The value is the monitored metric at the epoch whose
weights early stopping restores, i.e. it describes the model the trial ends with. (It is
the rows early stopping chose that epoch on, so it is slightly optimistic, by the same
amount for every trial; the honest number for the winner comes from a test split the
search never saw, which ``trainwell tune`` holds out.)

Per-epoch values go to Optuna as intermediate values, so its pruner can stop hopeless
trials after a few epochs; a run whose loss becomes NaN or infinite is stopped and
recorded as pruned ("diverged"), not failed: a diverging learning rate is a result.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
import zlib
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.samplers import RandomSampler
from sklearn.base import clone

from ..exceptions import ConfigError
from ..train.callbacks import Callback, RunState
from .space import Param, suggest

__all__ = ["METRICS", "PruningCallback", "StageSpec", "TrialSeededRandomSampler", "run_trial"]

# metric name -> (history key, direction)
METRICS = {
    "loss": ("val_loss", "minimize"),
    "accuracy": ("val_accuracy", "maximize"),
    "r2": ("val_r2", "maximize"),
}


@dataclass(frozen=True)
class StageSpec:
    """What one stage of a search runs: its parameters, its run length and its budget."""

    study_name: str
    stage: str  # "lr" or "refine"
    searched: dict[str, Param]
    fixed: dict[str, Any]
    epochs: int
    n_trials: int
    metric: str = "loss"
    prune: bool = True
    warmup_epochs: int = 1
    baseline: bool = False  # trial 0 trains the estimator's own settings, the one to beat

    @property
    def direction(self) -> str:
        return METRICS[self.metric][1]

    @property
    def monitor(self) -> str:
        return METRICS[self.metric][0]


class PruningCallback(Callback):
    """Report each epoch's validation value to an Optuna trial and stop the run when the
    pruner says the trial is hopeless, or when the loss is no longer a number."""

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        self.trial = trial
        self.monitor = monitor
        self.pruned_at: int | None = None
        self.diverged_at: int | None = None
        self.unscored = False

    def on_epoch_end(self, run: RunState) -> None:
        row = run.history[-1]
        if self.monitor not in row:
            self.unscored = True  # no validation split: nothing to score the trial on
            run.stop_requested = True
            return
        value = row.get(self.monitor)
        if value is None or not math.isfinite(value) or not math.isfinite(row.get("val_loss", 0.0)):
            self.diverged_at = run.epoch
            run.stop_requested = True
            run.stop_reason = f"diverged: {self.monitor} became {value} in epoch {run.epoch}"
            return
        self.trial.report(float(value), run.epoch)
        if self.trial.should_prune():
            self.pruned_at = run.epoch
            run.stop_requested = True
            run.stop_reason = f"pruned by Optuna after epoch {run.epoch}: worse than the median trial so far"


class TrialSeededRandomSampler(RandomSampler):
    """Optuna's random sampler, seeded per trial from ``(seed, trial number, parameter)``.

    Optuna's :class:`~optuna.samplers.RandomSampler` draws from one stream per process, so
    two workers with the same seed, or a resumed search, would repeat each other's
    configurations; seeding each draw from the trial number makes every trial's
    configuration the same however many workers run and whether the search was resumed.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._base_seed = int(seed)

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[override]
        key = f"{self._base_seed}:{trial.number}:{param_name}".encode()
        return RandomSampler(seed=zlib.crc32(key)).sample_independent(study, trial, param_name, param_distribution)


def make_sampler(kind: str, seed: int, salt: str) -> optuna.samplers.BaseSampler:
    """``"random"`` (default, per-trial seeded) or ``"tpe"`` (seeded per process and stage)."""
    if kind == "tpe":
        import os

        return optuna.samplers.TPESampler(seed=zlib.crc32(f"{seed}:{salt}:{os.getpid()}".encode()))
    return TrialSeededRandomSampler(zlib.crc32(f"{seed}:{salt}".encode()))


def make_pruner(spec: StageSpec) -> optuna.pruners.BasePruner:
    """The median rule: stop a trial whose value after ``warmup`` epochs is worse than the
    median of earlier trials at the same epoch (after a few trials have finished)."""
    if not spec.prune:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=max(3, spec.n_trials // 4), n_warmup_steps=spec.warmup_epochs)


def run_trial(trial: optuna.Trial, estimator: Any, X: Any, y: Any, spec: StageSpec, seed: int,
              mlflow_parent: Any = None) -> float:
    """Train a clone of ``estimator`` with the trial's parameters and return its score.

    With ``mlflow_parent`` (the search's MLflow run) and the estimator's ``mlflow`` set, the
    trial's fit is recorded as a child run of it, tagged with the stage, the trial number and
    how the trial ended (``trainwell.trial_state``: complete or pruned), its score as the metric
    ``trial_score``.

    Raises
    ------
    optuna.TrialPruned
        When the pruner stopped the run or the loss diverged.
    """
    # Trial 0 of a stage with a baseline (and its retries, which copy its attributes) trains
    # the estimator as given: the search then replaces the user's settings only with a
    # configuration that scores better on the same validation rows.
    if spec.baseline and (trial.number == 0 or trial.user_attrs.get("baseline")):
        trial.set_user_attr("baseline", True)
        params = {}
    else:
        params = suggest(trial, spec.searched)
    callback = PruningCallback(trial, spec.monitor)
    est = clone(estimator)
    est.set_params(**spec.fixed, **params, max_epochs=spec.epochs, early_stopping=True, random_state=seed,
                   callbacks=[callback], verbose=0)
    t0 = time.perf_counter()
    with _trial_run(mlflow_parent, est, trial, spec) as scope, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    seconds = time.perf_counter() - t0
    try:
        score = _score(trial, est, callback, spec, caught, seconds)
    except optuna.TrialPruned:
        _record_trial(scope, "pruned", None)
        raise
    _record_trial(scope, "complete", score)
    return score


def _score(trial: optuna.Trial, est: Any, callback: PruningCallback, spec: StageSpec, caught: list[Any],
           seconds: float) -> float:
    """The fitted trial's score, its attributes recorded on the Optuna trial; pruned when it has none."""
    if callback.unscored:
        raise ConfigError(
            f"The trial's run has no {spec.monitor} to be scored on; keep the estimator's validation split "
            "(validation_fraction > 0, early_stopping=True) and give at least 50 rows."
        )
    trial.set_user_attr("seconds", round(seconds, 3))
    trial.set_user_attr("epochs", int(est.n_iter_))
    trial.set_user_attr("best_epoch", int(est.best_epoch_))
    if caught:
        trial.set_user_attr("warning", str(caught[0].message))
    if est.stop_reason_.startswith("diverged") or callback.diverged_at is not None:
        trial.set_user_attr("note", est.stop_reason_)
        raise optuna.TrialPruned(est.stop_reason_)
    if callback.pruned_at is not None:
        trial.set_user_attr("note", est.stop_reason_)
        raise optuna.TrialPruned(est.stop_reason_)
    row = next(r for r in est.history_ if r["epoch"] == est.best_epoch_)
    for key in ("val_loss", "val_accuracy", "val_r2"):
        if row.get(key) is not None:
            trial.set_user_attr(key, float(row[key]))
    score = row[spec.monitor]
    if score is None or not math.isfinite(score):
        trial.set_user_attr("note", f"{spec.monitor} is {score} at the best epoch")
        raise optuna.TrialPruned(f"{spec.monitor} is {score}")
    return float(score)


def _trial_run(parent: Any, est: Any, trial: optuna.Trial, spec: StageSpec) -> Any:
    """A block in which the trial's fit starts its MLflow run under the search's (or nothing happens)."""
    if parent is None or est.mlflow is False:
        return contextlib.nullcontext(None)
    from ..report.mlflow_log import nested_under

    tags = {"trainwell.stage": spec.stage, "trainwell.trial": str(trial.number), "optuna.study": spec.study_name}
    return nested_under(parent, name=f"{spec.stage} trial {trial.number}", tags=tags)


def _record_trial(scope: Any, state: str, score: float | None) -> None:
    """How the trial ended, on its MLflow run (when it has one)."""
    if scope is None or not scope.children:
        return
    from ..report.mlflow_log import set_run_tags

    set_run_tags(scope, scope.children[-1], {"trainwell.trial_state": state},
                 {"trial_score": score} if score is not None else None)
