"""Hyperparameter search the way the notes teach it, on Optuna.

>>> import trainwell
>>> result = trainwell.tune(estimator, X, y, space={"lr": (1e-5, 1e-1, "log")}, n_trials=40)  # doctest: +SKIP
>>> from trainwell.tune import tune, lr_find  # the same functions

:func:`tune` searches the learning rate first (short runs), then every parameter around it
(longer runs), at random on log scales where they belong, and warns when a best value lies
on the border of its range. :func:`lr_find` is the learning-rate range test, repeatable and
honest about curves that give no clear answer. One process keeps its trials in an SQLite
file; ``workers=N`` processes share Optuna's journal file; machines share a PostgreSQL study.
:class:`Stages` and :class:`Storage` group ``tune``'s settings of the stages and of where the
trials are kept: ``tune(est, X, y, stages=Stages(stage1_epochs=3), storage=Storage(out="runs/s"))``.
"""

from typing import TYPE_CHECKING

from .._callable import make_callable
from .._lazy import lazy_exports
from .options import Stages, Storage  # plain dataclasses: nothing heavy to defer

if TYPE_CHECKING:  # the lazy names, for type checkers and the API reference
    from .border import BorderWarning, check_borders
    from .lrfind import LRFindResult, lr_find
    from .results import TuneResult
    from .search import tune
    from .space import DEFAULT_SPACE, parse_space_strings
    from .storage import StorageSpec

__getattr__, __dir__ = lazy_exports(__name__, globals())

__all__ = [
    "DEFAULT_SPACE",
    "BorderWarning",
    "LRFindResult",
    "Stages",
    "Storage",
    "StorageSpec",
    "TuneResult",
    "check_borders",
    "lr_find",
    "parse_space_strings",
    "tune",
]


make_callable(__name__, "tune")
