"""The plan of a search: what each stage searches, for how long, with how many trials.

:func:`plan_search` turns the user's space and :class:`~trainwell.tune.Stages` into a
:class:`SearchPlan` once, before any trial runs (so a bad argument fails at once);
:func:`stage_specs` gives the two stages of each round from it, on that round's ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigError
from .objective import StageSpec
from .options import Stages
from .space import DEFAULT_SPACE, Choice, Param, Range, parse_space

__all__ = ["REGULARISATION", "SearchPlan", "plan_search", "split_trials", "stage_specs"]

REGULARISATION = ("l2", "l1", "dropout")


@dataclass(frozen=True)
class SearchPlan:
    """Everything about a search that is not data: its ranges, stages, budgets and seed.

    Attributes
    ----------
    searched : dict of str to Range or Choice
        The ranges of round 0 (a border round widens them).
    fixed : dict
        The space's fixed values.
    lr_trials, refine_trials : int
        Trials of the learning-rate stage (0: the learning rate is not a searched range, so
        the search has the refine stage only) and of the refine stage.
    lr_epochs, refine_epochs : int
        Epochs of each trial of the two stages.
    narrow : bool
        Narrow the refine stage's learning rate around the best learning-rate trials.
    stages : Stages
        The user's stage settings (pruning, baseline, border rounds, timeout).
    metric, sampler, seed, study_name
        As given to :func:`~trainwell.tune.tune`.
    notes : tuple of str
        What the plan wants the user to know (the learning rate added, not narrowed).
    """

    searched: dict[str, Param]
    fixed: dict[str, Any]
    lr_trials: int
    refine_trials: int
    lr_epochs: int
    refine_epochs: int
    narrow: bool
    stages: Stages
    metric: str
    sampler: str
    seed: int
    study_name: str
    notes: tuple[str, ...] = ()

    @property
    def two_stage(self) -> bool:
        """Whether each round starts with the learning-rate stage."""
        return self.lr_trials > 0

    @property
    def final_params(self) -> dict[str, Any]:
        """What every configuration is refit with besides its searched values (the refine run length)."""
        return {**self.fixed, "max_epochs": self.refine_epochs, "random_state": self.seed}


def split_trials(n_trials: int, stage1_trials: int | None) -> tuple[int, int]:
    """Trials of the learning-rate stage and of the refine stage; a third for the first by default."""
    if stage1_trials is None:
        stage1_trials = max(1, round(n_trials / 3))
    if not isinstance(stage1_trials, int) or not 1 <= stage1_trials < n_trials:
        raise ConfigError(f"stage1_trials={stage1_trials!r} must be an integer from 1 to n_trials - 1 ({n_trials - 1}).")
    return stage1_trials, n_trials - stage1_trials


def plan_search(estimator: Any, space: dict[str, Any] | None, n_trials: int, stages: Stages, *, metric: str,
                sampler: str, seed: int, study_name: str) -> SearchPlan:
    """The plan of a search of ``estimator`` over ``space`` (see :class:`SearchPlan`)."""
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
    two_stage = isinstance(searched.get("lr"), Range)
    n_lr, n_refine = split_trials(n_trials, stages.stage1_trials) if two_stage else (0, n_trials)
    narrow = two_stage and not isinstance(searched.get("optimizer"), Choice)
    if two_stage and not narrow:
        notes.append(
            "The optimizer is searched, and the best learning rate depends on it: the refine stage keeps the "
            "whole learning-rate range instead of narrowing it around the first stage's optimizer."
        )
    return SearchPlan(
        searched=searched, fixed=fixed, lr_trials=n_lr, refine_trials=n_refine, lr_epochs=stages.stage1_epochs,
        refine_epochs=stages.stage2_epochs or int(estimator.get_params()["max_epochs"]), narrow=narrow,
        stages=stages, metric=metric, sampler=sampler, seed=seed, study_name=study_name, notes=tuple(notes),
    )


def stage_specs(plan: SearchPlan, outer: dict[str, Param], round_: int,
                with_lr: bool) -> tuple[StageSpec | None, StageSpec]:
    """The learning-rate stage (``None`` when the round has none) and the refine stage of a round.

    ``outer`` holds the round's ranges; ``with_lr`` says whether the learning-rate stage runs
    (round 0, and a border round that widened the learning rate).
    """
    prune, name = plan.stages.prune, plan.study_name
    lr_stage = None
    if plan.two_stage and with_lr:
        # The notes: the learning rate is found with small regularisation, each searched
        # regularisation parameter at the low end of its range.
        small_reg = {k: outer[k].low for k in REGULARISATION if isinstance(outer.get(k), Range)}
        lr_stage = StageSpec(f"{name}.r{round_}.lr", "lr", {"lr": outer["lr"]}, {**plan.fixed, **small_reg},
                             plan.lr_epochs, plan.lr_trials, plan.metric, prune, warmup_epochs=1)
    epochs = plan.refine_epochs
    refine = StageSpec(f"{name}.r{round_}.refine", "refine", dict(outer), dict(plan.fixed), epochs,
                       plan.refine_trials, plan.metric, prune, warmup_epochs=max(2, min(10, epochs // 10)),
                       baseline=plan.stages.baseline)
    return lr_stage, refine
