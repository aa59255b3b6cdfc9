"""The grouped settings of :func:`~trainwell.tune.tune`: its stages, and where it keeps its trials.

``tune(..., stages=Stages(stage1_epochs=3), storage=Storage(out="runs/search", workers=2))``
is the documented form. The flat keywords of earlier versions (``stage1_epochs=3,
out="runs/search", workers=2``, and ``storage="postgresql://..."`` for the storage location)
are still accepted, because scripts and ``trainwell tune`` pass them: :func:`group_keywords`
maps each one onto the field of the same name (``storage`` onto :attr:`Storage.location`).

This module imports nothing heavy, so ``trainwell.tune`` exports the two classes at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError

if TYPE_CHECKING:  # only a type here: the storage module imports Optuna
    from .storage import StorageSpec

__all__ = ["STAGE_KEYWORDS", "STORAGE_KEYWORDS", "Stages", "Storage", "group_keywords"]


def _check_int(name: str, value: Any, low: int, *, optional: bool = False) -> None:
    """Raise the ConfigError of an argument that is not an integer of at least ``low``."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name}={value!r} must be an integer of at least {low}.")


@dataclass(frozen=True)
class Stages:
    """How the stages of a search run: learning rate first in short runs, then the refine stage.

    Parameters
    ----------
    stage1_trials : int, optional
        Trials of the learning-rate stage, out of ``n_trials``; default a third of them.
    stage1_epochs : int, default=5
        Epochs of each learning-rate trial (the notes' short runs).
    stage2_epochs : int, optional
        Most epochs of each refine trial (early stopping may end it sooner); default the
        estimator's ``max_epochs``.
    prune : bool, default=True
        Stop trials whose validation value is worse than the median of earlier trials.
    baseline : bool, default=True
        Make trial 0 of the refine stage the estimator's own settings, so that the search
        recommends a change only when it scores better on the same validation rows.
    extend_borders : bool, default=False
        When a best value lies on the border of its range, run the stages again with the
        widened range (at most twice).
    timeout : float, optional
        Seconds after which a stage starts no new trial.
    """

    stage1_trials: int | None = None
    stage1_epochs: int = 5
    stage2_epochs: int | None = None
    prune: bool = True
    baseline: bool = True
    extend_borders: bool = False
    timeout: float | None = None

    def __post_init__(self) -> None:
        # stage1_trials is checked against n_trials by the search, which knows both.
        _check_int("stage1_epochs", self.stage1_epochs, 1)
        if self.stage2_epochs is not None and (
            isinstance(self.stage2_epochs, bool) or not isinstance(self.stage2_epochs, int) or self.stage2_epochs < 1
        ):
            raise ConfigError(
                f"stage2_epochs={self.stage2_epochs!r} must be a positive integer or None (the estimator's max_epochs)."
            )


@dataclass(frozen=True)
class Storage:
    """Where a search keeps its trials and files, and how many processes share them.

    Parameters
    ----------
    location : str or StorageSpec, optional
        ``postgresql://user:pw@host/db`` for workers on several machines (each runs the same
        ``tune`` call); a ``.journal`` file path; default an SQLite file in ``out`` (Optuna's
        journal file there for ``workers > 1``; in memory without ``out``).
    out : str or Path, optional
        Run folder: the study, ``trials.csv``, ``search.json``, ``report.html`` and the refit
        ``model``. Running the same search with the same ``out`` resumes it.
    study_name : str, default="trainwell"
        Name of the search in the storage; its studies are ``NAME.rROUND.STAGE``.
    workers : int, default=1
        Processes on this machine sharing the search (on Optuna's journal file).
    """

    location: str | StorageSpec | None = None
    out: str | Path | None = None
    study_name: str = "trainwell"
    workers: int = 1

    def __post_init__(self) -> None:
        _check_int("workers", self.workers, 1)


#: flat keyword of ``tune`` -> field of :class:`Stages`
STAGE_KEYWORDS: dict[str, str] = {f.name: f.name for f in fields(Stages)}
#: flat keyword of ``tune`` -> field of :class:`Storage` (``storage`` itself is the location)
STORAGE_KEYWORDS: dict[str, str] = {"out": "out", "study_name": "study_name", "workers": "workers"}


def _pick(flat: dict[str, Any], keywords: dict[str, str], group: Any, param: str) -> dict[str, Any]:
    """The fields ``flat`` gives for one group; refuses a field given in both places."""
    given = {keywords[k]: v for k, v in flat.items() if k in keywords}
    if group is not None and given:
        name, value = next(iter(given.items()))
        cls = type(group).__name__
        raise ConfigError(
            f"tune() got {name}={value!r} as a keyword and also {param}={cls}(...), which holds {name}; "
            f"give it in one place only, e.g. {param}={cls}(..., {name}={value!r})."
        )
    return given


def group_keywords(stages: Stages | None, storage: Storage | str | StorageSpec | None,
                   flat: dict[str, Any]) -> tuple[Stages, Storage]:
    """The :class:`Stages` and :class:`Storage` of a ``tune`` call, whichever form it used.

    Parameters
    ----------
    stages : Stages or None
        The grouped stage settings, if given.
    storage : Storage, str, StorageSpec or None
        The grouped storage settings, or (the flat form) the storage location alone.
    flat : dict
        The other keywords ``tune`` received: flat settings of either group.

    Returns
    -------
    tuple of (Stages, Storage)

    Raises
    ------
    TypeError
        For a keyword ``tune`` does not know, as Python raises it.
    ConfigError
        When a setting is given both as a flat keyword and in its group, or a group is not
        of its class.
    """
    unknown = sorted(set(flat) - set(STAGE_KEYWORDS) - set(STORAGE_KEYWORDS))
    if unknown:
        raise TypeError(f"tune() got an unexpected keyword argument {unknown[0]!r}")
    if stages is not None and not isinstance(stages, Stages):
        raise ConfigError(f"stages={stages!r} must be a trainwell.tune.Stages(...); build one from the stage settings.")
    stage_fields = _pick(flat, STAGE_KEYWORDS, stages, "stages")
    grouped = storage if isinstance(storage, Storage) else None
    storage_fields = _pick(flat, STORAGE_KEYWORDS, grouped, "storage")
    if grouped is None:
        storage_fields["location"] = storage
    return (stages if stages is not None else Stages(**stage_fields),
            grouped if grouped is not None else Storage(**storage_fields))
