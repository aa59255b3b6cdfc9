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

:func:`tune` is the orchestration; the parts live beside it: the grouped settings
(:mod:`.options`), the plan of the stages (:mod:`.plan`), the rounds (:mod:`.rounds`), the
results (:mod:`.results`), ``confirm=K`` (:mod:`.confirm`) and the run folder (:mod:`.report`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
from sklearn.base import clone

from ..exceptions import ConfigError
from .confirm import confirm_best, top_trials
from .objective import METRICS
from .options import Stages, Storage, group_keywords
from .plan import REGULARISATION, plan_search
from .results import TuneResult
from .rounds import MAX_EXTENSIONS, narrow_lr, run_rounds
from .storage import JOURNAL_FILE, STUDY_FILE, StorageSpec, resolve_storage

# REGULARISATION and MAX_EXTENSIONS moved to .plan and .rounds; still importable from here.
__all__ = ["MAX_EXTENSIONS", "REGULARISATION", "SEARCH_FILE", "TuneResult", "narrow_lr", "prepare_out",
           "refuse_torchrun", "tune"]

SEARCH_FILE = "search.json"


def _check_args(estimator: Any, n_trials: Any, metric: str, sampler: str, confirm: Any) -> None:
    """Refuse, before any trial runs, the arguments the groups do not check themselves."""
    if not hasattr(estimator, "get_params") or "callbacks" not in estimator.get_params(deep=False):
        raise ConfigError(
            f"tune needs a trainwell estimator (NeuralNetClassifier or NeuralNetRegressor), not {type(estimator).__name__}."
        )
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 2:
        raise ConfigError(f"n_trials={n_trials!r} must be an integer of at least 2.")
    classifier = hasattr(estimator, "predict_proba")
    valid = ("loss", "accuracy") if classifier else ("loss", "r2")
    if metric not in valid:
        raise ConfigError(f"metric={metric!r} is not available for {type(estimator).__name__}; use one of {', '.join(valid)}.")
    if sampler not in ("random", "tpe"):
        raise ConfigError(f"sampler={sampler!r} is not known; use 'random' (the notes' advice) or 'tpe'.")
    if confirm and (isinstance(confirm, bool) or not isinstance(confirm, int) or confirm < 2):
        raise ConfigError(f"confirm={confirm!r} must be an integer of at least 2 (the number of top configurations to re-run).")


def prepare_out(out: str | Path | None) -> Path | None:
    """The run folder of a search, made if new; refuses a file, or a folder of other files."""
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


@contextlib.contextmanager
def _optuna_warnings_only() -> Iterator[None]:
    """Silence Optuna's line per trial while the search runs (its warnings still show)."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _printer(verbose: bool) -> Callable[[str], None]:
    """Where the search's progress lines go: stderr when ``verbose``, nowhere otherwise."""
    return (lambda text: print(text, file=sys.stderr)) if verbose else (lambda text: None)


def _refit(estimator: Any, final_params: dict[str, Any], best_params: dict[str, Any], X: Any, y: Any) -> Any:
    """A clone of ``estimator`` with the best configuration, fitted on all of ``X, y``.

    Its warnings are silenced: the trials that chose the configuration recorded them.
    """
    est = clone(estimator).set_params(**final_params, **best_params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    return est


def tune(estimator: Any, X: Any, y: Any, space: dict[str, Any] | None = None, n_trials: int = 40, *,
         stages: Stages | None = None, storage: Storage | str | StorageSpec | None = None, metric: str = "loss",
         sampler: str = "random", random_state: int = 0, refit: bool = True, report: bool = True, confirm: int = 0,
         cv: Any = None, verbose: bool = False, **flat: Any) -> TuneResult:
    """Search hyperparameters of a trainwell estimator: learning rate first, then the rest.

    Documented form: ``stages=Stages(...)`` and ``storage=Storage(...)``. The flat keywords of
    earlier versions still work (``**flat``), each meaning the field of the same name
    (``stage1_epochs=3``, ``out=...``, ``workers=2``; ``storage`` as a URL or path is
    ``Storage.location``); a setting given both ways raises ConfigError.

    Parameters
    ----------
    estimator : NeuralNetClassifier or NeuralNetRegressor
        Its parameters are the defaults of every trial; the space overrides them.
    X, y : array-like
        The training data. Each trial scores on the estimator's own validation split
        (the same rows for every trial); keep a test set out of it.
    space : dict, optional
        ``{name: (low, high[, "log"]) | [choices] | value}``; default ``DEFAULT_SPACE``
        (``lr`` 1e-5 … 1e-1 and ``l2`` 1e-6 … 1e-1 on log scales, ``dropout``, ``hidden``).
    n_trials : int, default=40
        Trials over both stages (a third for the learning rate by default).
    stages : Stages, optional
        Trials and epochs of the stages, pruning, the baseline trial, border rounds, timeout.
    storage : Storage, optional
        Storage location, run folder ``out``, study name, worker processes; default in memory.
    metric : {"loss", "accuracy", "r2"}, default="loss"
        Validation value to optimise: the loss is minimised, accuracy and R² maximised.
    sampler : {"random", "tpe"}, default="random"
        Random search (the notes' advice), or Optuna's TPE.
    random_state : int, default=0
        Seeds the sampler and every trial's estimator (one validation split for all trials).
    refit : bool, default=True
        Refit the best configuration on all of ``X, y``.
    report : bool, default=True
        Write ``report.html`` to the run folder.
    confirm : int, default=0
        Re-run the top ``confirm`` configurations and your settings on repeated folds
        (:func:`trainwell.compare.confirm`); your settings stay unless significantly beaten.
    cv : optional
        Folds for ``confirm`` (default: that function's).
    verbose : bool, default=False
        Print a line per round (on stderr).

    Returns
    -------
    TuneResult

    Raises
    ------
    ConfigError
        For an argument that cannot work, said in words with what to give instead.
    """
    t0 = time.perf_counter()
    stages, place = group_keywords(stages, storage, flat)
    refuse_torchrun()
    _check_args(estimator, n_trials, metric, sampler, confirm)
    plan = plan_search(estimator, space, n_trials, stages, metric=metric, sampler=sampler, seed=int(random_state),
                       study_name=place.study_name)
    run_dir = prepare_out(place.out)
    spec = resolve_storage(place.location, run_dir, place.workers)
    storage_obj = spec.open()
    with _search_run(estimator, plan, n_trials) as (parent, logger):
        with _optuna_warnings_only():
            rounds = run_rounds(plan, estimator, X, y, spec, storage_obj, place.workers, _printer(verbose), parent)
        result = TuneResult(best_params=rounds.best_params, best_score=float(rounds.best.value), metric=metric,
                            trials=rounds.trials, warnings=[w.message for w in rounds.border], border=rounds.border,
                            spaces=rounds.spaces, storage=spec.describe(), run_dir=run_dir,
                            seconds=time.perf_counter() - t0, notes=[*plan.notes, *rounds.notes])
        if confirm:
            top = top_trials(storage_obj, rounds.refine_studies, METRICS[metric][1], confirm)
            _confirm(result, top, estimator, X, y, rounds, plan, cv, parent)
        if refit:
            with _nested(parent, "refit (best configuration)"):
                result.best_estimator = _refit(estimator, plan.final_params, result.best_params, X, y)
        _write_out(result, run_dir, report, logger)
    return result


def _write_out(result: TuneResult, run_dir: Path | None, report: bool, logger: Any) -> None:
    """The search's run folder (with ``report``), then the end of its MLflow run (when it has one)."""
    if run_dir is not None:
        from .report import write_run_folder  # matplotlib, only when there is a folder to write

        write_run_folder(result, run_dir, report=report)
    if logger is not None:
        _finish_search_run(logger, result, METRICS[result.metric][0])


def _confirm(result: TuneResult, top: list[Any], estimator: Any, X: Any, y: Any, rounds: Any, plan: Any, cv: Any,
             parent: Any) -> None:
    """``confirm=K``; the folds' fits are not tracked in MLflow one by one (the comparison is the result)."""
    quiet = clone(estimator).set_params(mlflow=False) if parent is not None else estimator
    confirm_best(result, top, quiet, X, y, outer=rounds.outer, final_params=plan.final_params, cv=cv, seed=plan.seed)


@contextlib.contextmanager
def _search_run(estimator: Any, plan: Any, n_trials: int) -> Iterator[tuple[Any, Any]]:
    """The search's MLflow run when the estimator's ``mlflow`` is set (trials nest under it), else ``(None, None)``.

    An exception ends it as ``FAILED``.
    """
    if estimator.get_params(deep=False).get("mlflow", False) is False:
        yield None, None
        return
    from ..report.mlflow_log import start_parent_run

    settings = {"metric": plan.metric, "n_trials": n_trials, "sampler": plan.sampler, "random_state": plan.seed,
                "estimator": type(estimator).__name__, "study": plan.study_name}
    parent, logger = start_parent_run(estimator.mlflow, "tune", settings, tags={"trainwell.search": "tune"})
    with logger.failing_on_error():
        yield parent, logger


def _nested(parent: Any, name: str) -> Any:
    """Fits in the block start their MLflow runs under the search's (nothing without one)."""
    if parent is None:
        return contextlib.nullcontext()
    from ..report.mlflow_log import nested_under

    return nested_under(parent, name=name, tags={"trainwell.refit": "true"})


def _finish_search_run(logger: Any, result: TuneResult, monitor: str) -> None:
    """The search's MLflow run: the best parameters (``best.NAME``), the best score, the run folder."""
    logger.log_params({f"best.{name}": value for name, value in result.best_params.items()})
    counts = result.trials["state"].value_counts().to_dict() if "state" in result.trials else {}
    logger.finish(run_dir=result.run_dir, extra={"best_score": result.best_score, f"best_{monitor}": result.best_score,
                                                 **{f"trials_{str(k).lower()}": int(v) for k, v in counts.items()}})
