"""``confirm=K``: re-run the search's top configurations on repeated folds before naming a winner.

One validation split ranks the trials; the notes pick a model only when it does better
consistently over repeated experiments. :func:`top_trials` picks the top ``K`` distinct
configurations (and the baseline, the user's own settings), and :func:`confirm_best` hands
them to :func:`trainwell.compare.confirm` (repeated folds, Wilcoxon signed-rank test) and
lets its verdict choose the configuration that is refit.
"""

from __future__ import annotations

import json
from typing import Any

import optuna
from optuna.trial import TrialState
from sklearn.base import clone

from .results import TuneResult, params_of
from .space import Param

__all__ = ["confirm_best", "top_trials"]


def top_trials(storage: Any, studies: list[str], direction: str, k: int) -> list[optuna.trial.FrozenTrial]:
    """The ``k`` best complete trials of ``studies`` with distinct configurations, and the baseline.

    The baseline trial (the estimator's own settings) is added when it is not among them, so
    the user's settings always take part.
    """
    done: list[optuna.trial.FrozenTrial] = []
    for name in studies:
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
        top.append(baseline)
    return top


def confirm_best(result: TuneResult, top: list[optuna.trial.FrozenTrial], estimator: Any, X: Any, y: Any, *,
                 outer: dict[str, Param], final_params: dict[str, Any], cv: Any, seed: int) -> None:
    """Compare the ``top`` trials on repeated folds and set ``result``'s best to the one that wins.

    ``result.best_params``, ``best_score``, ``confirmation`` and ``notes`` are updated in place.
    """
    from ..compare import confirm  # the compare layer sits below tune; imported when asked for

    if len(top) < 2:
        result.notes.append("confirm needs two distinct finished configurations; only one finished.")
        return
    names = [f"trial {t.number}" + (" (baseline)" if t.user_attrs.get("baseline") else "") for t in top]
    models = {name: clone(estimator).set_params(**final_params, **params_of(t, outer, estimator))
              for name, t in zip(names, top, strict=True)}
    comparison = confirm(models, X, y, cv=cv, random_state=seed)
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
    result.best_params = params_of(trial, outer, estimator)
    result.best_score = float(trial.value)
    result.notes.append(comparison.verdict.splitlines()[0])
