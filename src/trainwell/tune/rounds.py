"""The rounds of a search: each round's stages, here or in worker processes, and the border rounds.

A round is the learning-rate stage (when it runs) and the refine stage, whose learning-rate
range is narrowed around the best learning-rate trials (:func:`narrow_lr`). A :class:`Round`
holds everything a process needs to run one, and pickles, so ``workers=N`` hands it to fresh
interpreters (``python -m trainwell.tune._worker``) that share the study; :func:`run_round`
is what each of them runs. :func:`run_rounds` runs round 0 and, with ``extend_borders``, up
to :data:`MAX_EXTENSIONS` more on ranges widened where a best value lay on a border.
"""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from ..exceptions import ConfigError
from .border import BorderWarning, check_borders, widen
from .objective import METRICS, StageSpec, make_pruner, make_sampler, run_trial
from .plan import SearchPlan, stage_specs
from .results import best_trial, params_of, trials_frame
from .space import Param, Range, space_to_plain
from .storage import StorageSpec, run_trials

__all__ = ["MAX_EXTENSIONS", "Round", "RoundsOutcome", "error_path", "execute_round", "narrow_lr", "open_study",
           "refine_spec", "run_round", "run_rounds"]

MAX_EXTENSIONS = 2  # rounds of widening with extend_borders=True


# ---------------------------------------------------------------------- stage 2 ranges
def narrow_lr(trials: list[optuna.trial.FrozenTrial], outer: Range, direction: str, top_share: float = 0.25,
              max_share: float = 0.5) -> Range:
    """The learning-rate range of the refine stage, narrowed around the best stage-1 trials.

    Takes the best quarter of the complete trials (at least three), spans their learning
    rates with a margin of 10 % of the outer range on each side, and caps the width at half
    the outer range around the best trial, so that the refine stage always searches a
    narrower range ("re-fine the value ... with smaller variations", the notes).
    """
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
    if not done:
        raise ConfigError(
            f"No learning rate in {outer.describe()} trained to a finite validation score in the first stage; "
            "check the data, or widen or move the learning-rate range."
        )
    done.sort(key=lambda t: t.value if direction == "minimize" else -t.value)
    top = done[: max(min(3, len(done)), math.ceil(top_share * len(done)))]
    logs = np.log10([t.params["lr"] for t in top])
    a, b = math.log10(outer.low), math.log10(outer.high)
    width = b - a
    center = math.log10(top[0].params["lr"])
    lo, hi = logs.min() - 0.1 * width, logs.max() + 0.1 * width
    cap = max_share * width
    lo, hi = max(lo, center - cap / 2), min(hi, center + cap / 2)
    lo, hi = max(lo, a), min(hi, b)
    return Range("lr", float(f"{10 ** lo:.3g}"), float(f"{10 ** hi:.3g}"), log=True)


# ---------------------------------------------------------------------- one round
@dataclass
class Round:
    """Everything a worker process needs to run the stages of one round (picklable)."""

    estimator: Any
    X: Any
    y: Any
    storage: StorageSpec
    seed: int
    sampler: str
    stage1: StageSpec | None
    refine: StageSpec
    lr_source: str | None  # study whose trials narrow the learning rate; None: no narrowing
    lr_outer: Range | None
    timeout: float | None = None
    mlflow_parent: Any = None  # the search's MLflow run (trainwell.report.mlflow_log.ParentRun) or None


def _config_text(spec: StageSpec) -> str:
    return json.dumps(
        {"stage": spec.stage, "space": space_to_plain(spec.searched), "fixed": spec.fixed, "epochs": spec.epochs,
         "n_trials": spec.n_trials, "metric": spec.metric},
        sort_keys=True, default=str,
    )


def open_study(storage: Any, spec: StageSpec, sampler: str, seed: int) -> optuna.Study:
    """Create or load the study of a stage; refuses one the storage holds with other settings."""
    study = optuna.create_study(
        storage=storage, study_name=spec.study_name, direction=spec.direction, load_if_exists=True,
        sampler=make_sampler(sampler, seed, spec.study_name), pruner=make_pruner(spec),
    )
    text = _config_text(spec)
    existing = study.user_attrs.get("config")
    if existing is None:
        study.set_user_attr("config", text)
    elif existing != text:
        raise ConfigError(
            f"The storage already holds a search {spec.study_name!r} with other settings; run the same "
            "search again to resume it, or use a new run folder (--out) or study name for a new one."
        )
    return study


def refine_spec(job: Round, storage: Any) -> StageSpec:
    """The refine stage with the learning rate narrowed (a pure function of the stage-1 trials)."""
    spec = job.refine
    if job.lr_source is None or job.lr_outer is None:
        return spec
    lr_study = optuna.load_study(study_name=job.lr_source, storage=storage)
    lr_range = narrow_lr(lr_study.get_trials(deepcopy=False), job.lr_outer, spec.direction)
    return replace(spec, searched={**spec.searched, "lr": lr_range})


def run_round(job: Round, storage: Any = None) -> None:
    """Run (or resume, or help with) the stages of one round in this process."""
    storage = storage if storage is not None else job.storage.open()
    if job.stage1 is not None:
        s1 = job.stage1
        study = open_study(storage, s1, job.sampler, job.seed)
        run_trials(study, lambda t: run_trial(t, job.estimator, job.X, job.y, s1, job.seed, job.mlflow_parent),
                   s1.n_trials, timeout=job.timeout)
    spec = refine_spec(job, storage)
    study = open_study(storage, spec, job.sampler, job.seed)
    run_trials(study, lambda t: run_trial(t, job.estimator, job.X, job.y, spec, job.seed, job.mlflow_parent),
               spec.n_trials, timeout=job.timeout)


def error_path(job: Path, index: int) -> Path:
    """Where worker ``index`` of the job pickled at ``job`` leaves its exception."""
    return job.with_name(f"{job.stem}.{index}.error")


def execute_round(job: Round, workers: int, storage: Any) -> None:
    """Run a round here (one worker) or in ``workers`` fresh processes on this machine."""
    if workers == 1:
        run_round(job, storage)
        return
    with tempfile.TemporaryDirectory(prefix="trainwell-tune-") as tmp:
        job_path = Path(tmp) / "job.pickle"
        job_path.write_bytes(pickle.dumps(job))
        procs = [subprocess.Popen([sys.executable, "-m", "trainwell.tune._worker", str(job_path), str(i), str(workers)])
                 for i in range(workers)]
        try:
            for p in procs:
                p.wait()
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        for i in range(workers):
            if error_path(job_path, i).exists():
                raise pickle.loads(error_path(job_path, i).read_bytes())
    # Workers that were killed leave their trials to the others; whatever is left (all of
    # them killed) is finished here.
    run_round(job, storage)


# ---------------------------------------------------------------------- the rounds of a search
@dataclass
class RoundsOutcome:
    """What the rounds of a search leave: the best trial, the border check, what ran where.

    Attributes
    ----------
    best : optuna.trial.FrozenTrial
        The best refine trial over all rounds.
    best_params : dict
        Its searched parameters (the estimator's own for the baseline).
    border : list of BorderWarning
        The border check of the last round.
    outer : dict of str to Range or Choice
        The ranges of the last round.
    studies : list of (study name, round, stage)
    refine_studies : list of str
    spaces : dict of str to dict
        The ranges each stage searched, by study name (plain data).
    notes : list of str
        The border rounds, in words.
    trials : pandas.DataFrame
        One row per trial of every stage (:func:`~trainwell.tune.results.trials_frame`).
    """

    best: optuna.trial.FrozenTrial
    best_params: dict[str, Any]
    border: list[BorderWarning]
    outer: dict[str, Param]
    studies: list[tuple[str, int, str]] = field(default_factory=list)
    refine_studies: list[str] = field(default_factory=list)
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)


def run_rounds(plan: SearchPlan, estimator: Any, X: Any, y: Any, spec: StorageSpec, storage: Any, workers: int,
               say: Callable[[str], None], mlflow_parent: Any = None) -> RoundsOutcome:
    """Run round 0 of ``plan`` and, with ``extend_borders``, the border rounds after it; read their trials.

    Parameters
    ----------
    plan : SearchPlan
    estimator, X, y
        What every trial trains (a clone of ``estimator`` with the trial's parameters).
    spec : StorageSpec
        The storage, as worker processes open it.
    storage : optuna.storages.BaseStorage
        The same storage, opened in this process.
    workers : int
        Processes on this machine that run each round.
    say : callable
        Takes a line of progress.
    mlflow_parent : trainwell.report.mlflow_log.ParentRun, optional
        The search's MLflow run: each trial's fit is recorded as a child run of it.
    """
    outer = dict(plan.searched)
    studies: list[tuple[str, int, str]] = []
    refine_studies: list[str] = []
    spaces: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    border: list[BorderWarning] = []
    lr_source: str | None = None
    for round_ in range(MAX_EXTENSIONS + 1):
        lr_stage, refine = stage_specs(plan, outer, round_, with_lr=round_ == 0 or any(w.param == "lr" for w in border))
        if lr_stage is not None:
            lr_source = lr_stage.study_name
            studies.append((lr_stage.study_name, round_, "lr"))
        studies.append((refine.study_name, round_, "refine"))
        refine_studies.append(refine.study_name)
        job = Round(estimator, X, y, spec, plan.seed, plan.sampler, lr_stage, refine,
                    lr_source if plan.narrow else None, outer.get("lr") if plan.narrow else None, plan.stages.timeout,
                    mlflow_parent)
        n_lr = plan.lr_trials if lr_stage else 0
        say(f"round {round_}: {'learning rate, then ' if lr_stage else ''}refine ({n_lr} + {plan.refine_trials} trials)")
        execute_round(job, workers, storage if workers == 1 else None)
        if lr_stage is not None:
            spaces[lr_stage.study_name] = space_to_plain(lr_stage.searched)
        spaces[refine.study_name] = space_to_plain(refine_spec(job, storage).searched)
        best = best_trial(storage, refine_studies, METRICS[plan.metric][1])
        best_params = params_of(best, outer, estimator)
        border = check_borders(best_params, outer)
        if not (plan.stages.extend_borders and border) or round_ == MAX_EXTENSIONS:
            break
        notes.append(f"Round {round_} ended on a border, so the search ran again on the widened range: "
                     + " ".join(w.message for w in border))
        say(notes[-1])
        outer = widen(outer, border)
    trials = trials_frame(storage, studies, outer)
    return RoundsOutcome(best, best_params, border, outer, studies, refine_studies, spaces, notes, trials)
