"""Hyperparameter search the way the notes teach it, on Optuna.

The protocol (seed notes, "Hyperparameter optimization"):

1. **Learning rate first** (stage ``lr``): the learning rate alone, on a log scale, with
   short runs (5 epochs by default) and small regularisation (each searched regularisation
   parameter at the low end of its range); hopeless trials are pruned.
2. **Refine** (stage ``refine``): every parameter, the learning rate in a range narrowed
   around the best stage-1 trials, with longer runs.
3. **Border check**: a best value in the outer 10 % of its range is reported with a widened
   range; ``extend_borders=True`` runs the stages again on the widened ranges.

Configurations are sampled at random (Optuna's random sampler, TPE as an option), never on
a grid. Every trial's configuration, score, epochs and time go to an Optuna study (an SQLite
file in the run folder by default), so running the same search again resumes it.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState
from sklearn.base import clone

from ..exceptions import ConfigError
from .border import BorderWarning, check_borders, widen
from .objective import METRICS, StageSpec, make_pruner, make_sampler, run_trial
from .space import DEFAULT_SPACE, Choice, Param, Range, decode, parse_space, space_to_plain
from .storage import (
    JOURNAL_FILE,
    STUDY_FILE,
    StorageSpec,
    resolve_storage,
    run_trials,
)

__all__ = ["TuneResult", "narrow_lr", "tune"]

REGULARISATION = ("l2", "l1", "dropout")
MAX_EXTENSIONS = 2  # rounds of widening with extend_borders=True
SEARCH_FILE = "search.json"


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
        done = self.trials[self.trials["state"].isin(["COMPLETE", "PRUNED"])] if len(self.trials) else self.trials
        lines = [
            f"{len(done)} trials in {self.seconds:.1f} s; best validation {self.metric} {self.best_score:.4f} with "
            + ", ".join(f"{k}={_show(v)}" for k, v in self.best_params.items())
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, tuple):
        return ",".join(map(str, v))
    return str(v)


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


# ---------------------------------------------------------------------- one round of stages
@dataclass
class _Round:
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


def _config_text(spec: StageSpec) -> str:
    return json.dumps(
        {"stage": spec.stage, "space": space_to_plain(spec.searched), "fixed": spec.fixed, "epochs": spec.epochs,
         "n_trials": spec.n_trials, "metric": spec.metric},
        sort_keys=True, default=str,
    )


def _open_study(storage: Any, spec: StageSpec, sampler: str, seed: int) -> optuna.Study:
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


def _refine_spec(job: _Round, storage: Any) -> StageSpec:
    """The refine stage with the learning rate narrowed (a pure function of the stage-1 trials)."""
    spec = job.refine
    if job.lr_source is None or job.lr_outer is None:
        return spec
    lr_study = optuna.load_study(study_name=job.lr_source, storage=storage)
    lr_range = narrow_lr(lr_study.get_trials(deepcopy=False), job.lr_outer, spec.direction)
    return replace(spec, searched={**spec.searched, "lr": lr_range})


def _run_round(job: _Round, storage: Any = None) -> None:
    """Run (or resume, or help with) the stages of one round in this process."""
    storage = storage if storage is not None else job.storage.open()
    if job.stage1 is not None:
        s1 = job.stage1
        study = _open_study(storage, s1, job.sampler, job.seed)
        run_trials(study, lambda t: run_trial(t, job.estimator, job.X, job.y, s1, job.seed), s1.n_trials,
                   timeout=job.timeout)
    spec = _refine_spec(job, storage)
    study = _open_study(storage, spec, job.sampler, job.seed)
    run_trials(study, lambda t: run_trial(t, job.estimator, job.X, job.y, spec, job.seed), spec.n_trials,
               timeout=job.timeout)


def _execute(job: _Round, workers: int, storage: Any) -> None:
    """Run a round here (one worker) or in ``workers`` fresh processes on this machine."""
    if workers == 1:
        _run_round(job, storage)
        return
    from ._worker import error_path

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
    _run_round(job, storage)


# ---------------------------------------------------------------------- results
def _trials_frame(storage: Any, names: list[tuple[str, int, str]], searched: dict[str, Param]) -> pd.DataFrame:
    rows = []
    for study_name, round_, stage in names:
        try:
            study = optuna.load_study(study_name=study_name, storage=storage)
        except KeyError:
            continue
        for t in study.get_trials(deepcopy=False):
            if t.user_attrs.get("surplus") or t.state == TrialState.WAITING:
                continue
            row: dict[str, Any] = {"study": study_name, "round": round_, "stage": stage, "number": t.number,
                                   "state": t.state.name, "score": t.value}
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
            rows.append(row)
    return pd.DataFrame(rows)


def _best(storage: Any, names: list[str], direction: str) -> optuna.trial.FrozenTrial:
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


def _params_of(trial: optuna.trial.FrozenTrial, searched: dict[str, Param], estimator: Any) -> dict[str, Any]:
    """The searched parameters of a trial; the estimator's own values for the baseline."""
    if trial.user_attrs.get("baseline"):
        own = estimator.get_params(deep=False)
        return {name: own[name] for name in searched}
    return decode(searched, trial.params)


def _split_trials(n_trials: int, stage1_trials: int | None) -> tuple[int, int]:
    if stage1_trials is None:
        stage1_trials = max(1, round(n_trials / 3))
    if not isinstance(stage1_trials, int) or not 1 <= stage1_trials < n_trials:
        raise ConfigError(f"stage1_trials={stage1_trials!r} must be an integer from 1 to n_trials - 1 ({n_trials - 1}).")
    return stage1_trials, n_trials - stage1_trials


def _check_args(estimator: Any, n_trials: Any, workers: Any, metric: str, sampler: str, stage1_epochs: Any,
                stage2_epochs: Any) -> None:
    if not hasattr(estimator, "get_params") or "callbacks" not in estimator.get_params(deep=False):
        raise ConfigError(
            f"tune needs a trainwell estimator (NeuralNetClassifier or NeuralNetRegressor), not {type(estimator).__name__}."
        )
    for name, value, low in (("n_trials", n_trials, 2), ("workers", workers, 1), ("stage1_epochs", stage1_epochs, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name}={value!r} must be an integer of at least {low}.")
    if stage2_epochs is not None and (isinstance(stage2_epochs, bool) or not isinstance(stage2_epochs, int) or stage2_epochs < 1):
        raise ConfigError(f"stage2_epochs={stage2_epochs!r} must be a positive integer or None (the estimator's max_epochs).")
    classifier = hasattr(estimator, "predict_proba")
    valid = ("loss", "accuracy") if classifier else ("loss", "r2")
    if metric not in valid:
        raise ConfigError(f"metric={metric!r} is not available for {type(estimator).__name__}; use one of {', '.join(valid)}.")
    if sampler not in ("random", "tpe"):
        raise ConfigError(f"sampler={sampler!r} is not known; use 'random' (the notes' advice) or 'tpe'.")


def _prepare_out(out: str | Path | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"out={str(out)!r} is a file; give a folder for the search.")
    if path.is_dir() and any(path.iterdir()):
        ours = (STUDY_FILE, JOURNAL_FILE, SEARCH_FILE)
        if not any((path / f).exists() for f in ours):
            raise ConfigError(f"out={str(out)!r} is a folder that holds other files; give a new folder (or the folder of an earlier search to resume it).")
    path.mkdir(parents=True, exist_ok=True)
    return path


def refuse_torchrun() -> None:
    """A search runs one trial per process: under torchrun every rank would draw its own trials
    and average their gradients, so it is refused with what to do instead."""
    from ..train.distributed import launched_by_torchrun

    if launched_by_torchrun() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(
            "trainwell tune runs one trial per process, not under torchrun; start it once per GPU "
            "(CUDA_VISIBLE_DEVICES=i) with --storage postgresql://... so the processes share one study."
        )


def tune(estimator: Any, X: Any, y: Any, space: dict[str, Any] | None = None, n_trials: int = 40, *,
         stage1_trials: int | None = None, stage1_epochs: int = 5, stage2_epochs: int | None = None,
         metric: str = "loss", sampler: str = "random", prune: bool = True, workers: int = 1,
         storage: str | StorageSpec | None = None, out: str | Path | None = None, study_name: str = "trainwell",
         extend_borders: bool = False, random_state: int = 0, timeout: float | None = None, refit: bool = True,
         report: bool = True, confirm: int = 0, cv: Any = None, baseline: bool = True,
         verbose: bool = False) -> TuneResult:
    """Search hyperparameters of a trainwell estimator: learning rate first, then the rest.

    Parameters
    ----------
    estimator : NeuralNetClassifier or NeuralNetRegressor
        Its parameters are the defaults of every trial; the space overrides them.
    X : array-like or DataFrame of shape (n_samples, ...)
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        The training data. Each trial scores on the estimator's own validation split
        (the same rows for every trial); keep a test set out of it.
    space : dict, optional
        ``{name: (low, high[, "log"]) | [choices] | value}``; default
        ``{"lr": (1e-5, 1e-1, "log"), "l2": (1e-6, 1e-1, "log"), "dropout": (0.0, 0.5),
        "hidden": [(128,), (256, 128), (512, 256)]}``.
    n_trials : int, default=40
        Trials over both stages (a third for the learning rate by default).
    stage1_trials : int, optional
        Trials of the learning-rate stage.
    stage1_epochs : int, default=5
        Epochs of each learning-rate trial (the notes' short runs).
    stage2_epochs : int, optional
        Most epochs of each refine trial (early stopping may end it sooner); default the
        estimator's ``max_epochs``.
    metric : {"loss", "accuracy", "r2"}, default="loss"
        Validation value to optimise: the loss is minimised, accuracy and R² maximised.
    sampler : {"random", "tpe"}, default="random"
        Random search (the notes' advice), or Optuna's TPE.
    prune : bool, default=True
        Stop trials whose validation value is worse than the median of earlier trials.
    workers : int, default=1
        Processes on this machine sharing the search (on Optuna's journal file).
    storage : str, optional
        ``postgresql://user:pw@host/db`` for workers on several machines (each runs the
        same ``tune`` call); a ``.journal`` file path; default an SQLite file in ``out``.
    out : str or Path, optional
        Run folder: the study, ``trials.csv``, ``search.json``, ``report.html`` and the refit
        ``model``. Running the same search with the same ``out`` resumes it.
    study_name : str, default="trainwell"
    extend_borders : bool, default=False
        When a best value lies on the border of its range, run the stages again with the
        widened range (at most twice).
    random_state : int, default=0
        Seeds the sampler and every trial's estimator (one validation split for all trials).
    timeout : float, optional
        Seconds after which a stage starts no new trial.
    refit : bool, default=True
        Refit the best configuration on all of ``X, y``.
    report : bool, default=True
        Write ``report.html`` to ``out``.
    confirm : int, default=0
        Re-run the top ``confirm`` configurations and the baseline on repeated folds
        (:func:`trainwell.compare.confirm`); the best mean wins, except that the baseline
        (your settings) stays unless the winner is significantly better than it.
    cv : optional
        Folds for ``confirm`` (default: that function's).
    baseline : bool, default=True
        Make trial 0 of the refine stage the estimator's own settings, so that the search
        recommends a change only when it scores better on the same validation rows.
    verbose : bool, default=False
        Print a line per round (on stderr).

    Returns
    -------
    TuneResult
    """
    t0 = time.perf_counter()
    refuse_torchrun()
    _check_args(estimator, n_trials, workers, metric, sampler, stage1_epochs, stage2_epochs)
    searched, fixed = parse_space(space, set(estimator.get_params(deep=False)))
    if not searched:
        raise ConfigError("The space searches nothing; give at least one range or list of choices.")
    notes: list[str] = []
    if "lr" not in searched and "lr" not in fixed:
        # The notes: the learning rate is the most important hyperparameter, found first.
        searched = {"lr": parse_space({"lr": DEFAULT_SPACE["lr"]})[0]["lr"], **searched}
        notes.append(
            "The space did not name lr, so it is searched first over 1e-05 … 0.1 (log), the most important "
            "hyperparameter (the notes); give lr=VALUE in the space to keep it fixed."
        )
    def say(text: str) -> None:
        if verbose:
            print(text, file=sys.stderr)

    run_dir = _prepare_out(out)
    spec = resolve_storage(storage, run_dir, workers)
    storage_obj = spec.open()
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    epochs2 = stage2_epochs or int(estimator.get_params()["max_epochs"])
    two_stage = isinstance(searched.get("lr"), Range)
    n1, n2 = _split_trials(n_trials, stage1_trials) if two_stage else (0, n_trials)
    narrow = two_stage and not isinstance(searched.get("optimizer"), Choice)
    if two_stage and not narrow:
        notes.append(
            "The optimizer is searched, and the best learning rate depends on it: the refine stage keeps the "
            "whole learning-rate range instead of narrowing it around the first stage's optimizer."
        )
    try:
        outer = dict(searched)
        names: list[tuple[str, int, str]] = []
        refine_names: list[str] = []
        lr_source: str | None = None
        spaces: dict[str, dict[str, Any]] = {}
        border: list[BorderWarning] = []
        for round_ in range(MAX_EXTENSIONS + 1):
            lr_changed = round_ == 0 or any(w.param == "lr" for w in border)
            stage1 = None
            if two_stage and lr_changed:
                small_reg = {k: outer[k].low for k in REGULARISATION if isinstance(outer.get(k), Range)}
                stage1 = StageSpec(f"{study_name}.r{round_}.lr", "lr", {"lr": outer["lr"]}, {**fixed, **small_reg},
                                   stage1_epochs, n1, metric, prune, warmup_epochs=1)
                lr_source = stage1.study_name
                names.append((stage1.study_name, round_, "lr"))
            refine = StageSpec(f"{study_name}.r{round_}.refine", "refine", dict(outer), dict(fixed), epochs2, n2,
                               metric, prune, warmup_epochs=max(2, min(10, epochs2 // 10)), baseline=baseline)
            names.append((refine.study_name, round_, "refine"))
            refine_names.append(refine.study_name)
            job = _Round(estimator, X, y, spec, int(random_state), sampler, stage1, refine,
                         lr_source if narrow else None, outer.get("lr") if narrow else None, timeout)
            say(f"round {round_}: {'learning rate, then ' if stage1 else ''}refine ({n1 if stage1 else 0} + {n2} trials)")
            _execute(job, workers, storage_obj if workers == 1 else None)
            if stage1 is not None:
                spaces[stage1.study_name] = space_to_plain(stage1.searched)
            spaces[refine.study_name] = space_to_plain(_refine_spec(job, storage_obj).searched)
            best = _best(storage_obj, refine_names, METRICS[metric][1])
            best_params = _params_of(best, outer, estimator)
            border = check_borders(best_params, outer)
            if not (extend_borders and border) or round_ == MAX_EXTENSIONS:
                break
            notes.append(f"Round {round_} ended on a border, so the search ran again on the widened range: "
                         + " ".join(w.message for w in border))
            say(notes[-1])
            outer = widen(outer, border)
        trials = _trials_frame(storage_obj, names, outer)
    finally:
        optuna.logging.set_verbosity(level)
    seconds = time.perf_counter() - t0
    result = TuneResult(best_params=best_params, best_score=float(best.value), metric=metric, trials=trials,
                        warnings=[w.message for w in border], border=border, spaces=spaces,
                        storage=spec.describe(), run_dir=run_dir, seconds=seconds, notes=notes)
    final_params = {**fixed, "max_epochs": epochs2, "random_state": int(random_state)}
    if confirm:
        _confirm(result, estimator, X, y, storage_obj, refine_names, outer, final_params, confirm, cv, int(random_state))
    if refit:
        est = clone(estimator).set_params(**final_params, **result.best_params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        result.best_estimator = est
    if run_dir is not None:
        from .report import write_run_folder

        write_run_folder(result, run_dir, report=report)
    return result


def _confirm(result: TuneResult, estimator: Any, X: Any, y: Any, storage: Any, refine_names: list[str],
             outer: dict[str, Param], final_params: dict[str, Any], k: int, cv: Any, seed: int) -> None:
    """Re-run the top ``k`` configurations on repeated folds and let the means decide."""
    try:
        from ..compare import confirm as compare_confirm
    except ImportError:  # pragma: no cover - the compare package ships with trainwell
        result.notes.append("confirm was asked for but trainwell.compare is not available; the single-split winner stands.")
        return
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"confirm={k!r} must be an integer of at least 2 (the number of top configurations to re-run).")
    direction = METRICS[result.metric][1]
    done: list[optuna.trial.FrozenTrial] = []
    for name in refine_names:
        study = optuna.load_study(study_name=name, storage=storage)
        done += [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    done.sort(key=lambda t: t.value if direction == "minimize" else -t.value)
    top, seen = [], set()
    for t in done:
        key = json.dumps(t.params, sort_keys=True) + str(t.user_attrs.get("baseline", ""))
        if key not in seen:
            seen.add(key)
            top.append(t)
        if len(top) == k:
            break
    baseline = next((t for t in done if t.user_attrs.get("baseline")), None)
    if baseline is not None and not any(t.user_attrs.get("baseline") for t in top):
        top.append(baseline)  # the user's own settings always take part
    if len(top) < 2:
        result.notes.append("confirm needs two distinct finished configurations; only one finished.")
        return
    names = [f"trial {t.number}" + (" (baseline)" if t.user_attrs.get("baseline") else "") for t in top]
    models = {name: clone(estimator).set_params(**final_params, **_params_of(t, outer, estimator))
              for name, t in zip(names, top, strict=True)}
    comparison = compare_confirm(models, X, y, cv=cv, random_state=seed)
    result.confirmation = comparison
    chosen = comparison.best
    base_name = next((n for n, t in zip(names, top, strict=True) if t.user_attrs.get("baseline")), None)
    if base_name is not None and chosen != base_name:
        test = comparison.test(chosen, base_name)
        if not (test.significant and test.better == chosen):
            # The notes: pick a model only when it does better consistently over repeated
            # experiments; short of that evidence the user's own settings stay.
            result.notes.append(
                f"On repeated folds {chosen} has the best mean {comparison.metric}, but it is not shown to be "
                f"better than your own settings ({base_name}); the search keeps your settings."
            )
            chosen = base_name
    elif chosen != names[0]:
        result.notes.append(
            f"On repeated folds {chosen} has the best mean {comparison.metric}, ahead of the single-split best "
            f"{names[0]}; {chosen} is the one refit."
        )
    trial = top[names.index(chosen)]
    result.best_params = _params_of(trial, outer, estimator)
    result.best_score = float(trial.value)
    result.notes.append(comparison.verdict.splitlines()[0])
