"""The notes, runnable: small experiments on real data that test each claim of the notes.

>>> from trainwell import lab
>>> [e.name for e in lab.list_experiments()]          # doctest: +SKIP
>>> result = lab.run("activations")                   # doctest: +SKIP
>>> result.summary, result.numbers, result.figure     # doctest: +SKIP

Each experiment trains :class:`~trainwell.NeuralNetClassifier` (or plain PyTorch on its
network) on a small real data set in under a minute on one CPU core, and returns a
:class:`LabResult`: the numbers it measured, a matplotlib figure and a sentence generated
from the numbers that says whether the notes' claim held. ``trainwell lab NAME`` runs one
from the command line; the documentation's guide runs all of them during its build.
"""

from ._registry import Experiment, LabResult, get, list_experiments, run

# Importing the modules registers their experiments, in the order of the notes' chapters.
from . import depth as _depth  # noqa: E402,F401  isort: skip
from . import learning_rate as _learning_rate  # noqa: E402,F401  isort: skip
from . import optimizers as _optimizers  # noqa: E402,F401  isort: skip
from . import activations as _activations  # noqa: E402,F401  isort: skip
from . import initialization as _initialization  # noqa: E402,F401  isort: skip
from . import batchnorm as _batchnorm  # noqa: E402,F401  isort: skip
from . import regularisation as _regularisation  # noqa: E402,F401  isort: skip
from . import early_stopping as _early_stopping  # noqa: E402,F401  isort: skip
from . import transfer as _transfer  # noqa: E402,F401  isort: skip
from . import sanity as _sanity  # noqa: E402,F401  isort: skip
from . import search as _search  # noqa: E402,F401  isort: skip
from . import wilcoxon as _wilcoxon  # noqa: E402,F401  isort: skip

__all__ = ["Experiment", "LabResult", "get", "list_experiments", "run"]
