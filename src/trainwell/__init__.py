"""trainwell: train neural networks the way the best practitioners do.

The public surface: the two scikit-learn estimators and :func:`load`.
"""

from . import tune  # the package; calling it runs trainwell.tune.tune
from ._version import __version__
from .compare import compare, mcnemar, wilcoxon
from .diagnose import Finding, check
from .estimators import NeuralNetClassifier, NeuralNetRegressor
from .persist import load
from .tune import lr_find

__all__ = [
    "Finding",
    "NeuralNetClassifier",
    "NeuralNetRegressor",
    "__version__",
    "check",
    "compare",
    "load",
    "lr_find",
    "mcnemar",
    "tune",
    "wilcoxon",
]
