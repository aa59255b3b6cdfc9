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

# The experiments register themselves when their modules are imported, which happens on the
# first call of get / list_experiments / run (_registry.load_experiments): importing the
# package stays cheap (``trainwell lab --help`` lists the experiments without training anything).
from ._registry import Experiment, LabResult, get, list_experiments, run

__all__ = ["Experiment", "LabResult", "get", "list_experiments", "run"]
