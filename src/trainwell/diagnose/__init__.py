"""Diagnostics: checks before training, monitors during it, advice after it.

- :func:`check` runs the notes' sanity checks and data checks on an estimator and data.
- :func:`default_monitors` returns the callbacks that record per-layer statistics.
- :func:`advise` turns a finished run (history + monitors + configuration) into ranked
  :class:`Finding` objects with stable codes (a :class:`Findings` list, shown as HTML in Jupyter).
- :func:`step_time_advice` puts a step-time measurement
  (:class:`~trainwell.train.StepProfiler`) in sentences.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the lazy names, for type checkers and the API reference
    from .advice import advise
    from .checks import check
    from .findings import Finding, Findings, rank
    from .monitors import default_monitors
    from .speed import step_time_advice

__getattr__, __dir__ = lazy_exports(__name__, globals())

__all__ = ["Finding", "Findings", "advise", "check", "default_monitors", "rank", "step_time_advice"]
