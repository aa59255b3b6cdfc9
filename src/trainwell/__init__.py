"""trainwell: train neural networks the way the best practitioners do.

The public surface: the two scikit-learn estimators, :func:`load`, the search
(:func:`tune`, :func:`lr_find`), the comparison (:func:`compare`, :func:`wilcoxon`,
:func:`mcnemar`), the checks (:func:`check`, :class:`Finding`) and advice checked by re-training
(:func:`fix`).

Names are imported on first use (PEP 562), so ``import trainwell`` and the command line's
``--help`` do not pay for torch, scikit-learn, Optuna and matplotlib until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._lazy import lazy_exports
from ._version import __version__

if TYPE_CHECKING:  # what the lazy names are, for type checkers and the API reference
    from . import tune
    from .compare import compare, fix, mcnemar, wilcoxon
    from .diagnose import Finding, check
    from .estimators import NeuralNetClassifier, NeuralNetRegressor, load
    from .tune import lr_find

_lazy_getattr, __dir__ = lazy_exports(__name__, globals())

__all__ = [
    "Finding",
    "NeuralNetClassifier",
    "NeuralNetRegressor",
    "__version__",
    "check",
    "compare",
    "fix",
    "load",
    "lr_find",
    "mcnemar",
    "tune",
    "wilcoxon",
]


def __getattr__(name: str) -> Any:
    if name == "tune":  # the package itself: calling it runs trainwell.tune.tune
        return importlib.import_module(".tune", __name__)
    return _lazy_getattr(name)
