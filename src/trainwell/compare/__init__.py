"""Compare models honestly: repeated folds with the Wilcoxon signed-rank test, or one split with McNemar's test.

>>> from trainwell.compare import compare, wilcoxon, mcnemar

:func:`compare` trains every model on the same folds and returns a :class:`CompareResult`
whose ``str()`` is the verdict; :func:`wilcoxon` and :func:`mcnemar` are the two tests as plain
functions on scores and predictions; :func:`confirm` is the hook ``trainwell tune --confirm``
calls; :func:`plot_scores` draws the paired per-fold scores, and ``result.report(path)``
writes the whole comparison as one self-contained HTML page (:mod:`.report`).
"""

from typing import TYPE_CHECKING

from .._callable import make_callable
from .._lazy import lazy_exports

if TYPE_CHECKING:  # the lazy names, for type checkers and the API reference
    from .evaluate import CompareResult, compare, confirm
    from .fixing import FixResult, fix
    from .plot import plot_scores
    from .stats import McNemarResult, WilcoxonResult, holm, mcnemar, wilcoxon

__getattr__, __dir__ = lazy_exports(__name__, globals())

__all__ = [
    "CompareResult",
    "FixResult",
    "McNemarResult",
    "WilcoxonResult",
    "compare",
    "confirm",
    "fix",
    "holm",
    "mcnemar",
    "plot_scores",
    "wilcoxon",
]

make_callable(__name__, "compare")  # trainwell.compare(...) whichever way it was imported
