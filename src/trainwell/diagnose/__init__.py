"""Diagnostics: checks before training, monitors during it, advice after it.

- :func:`check` runs the notes' sanity checks and data checks on an estimator and data.
- :func:`default_monitors` returns the callbacks that record per-layer statistics.
- :func:`advise` turns a finished run (history + monitors + configuration) into ranked
  :class:`Finding` objects with stable codes.
"""

from .advice import advise
from .checks import check
from .findings import Finding, rank
from .monitors import default_monitors

__all__ = ["Finding", "advise", "check", "default_monitors", "rank"]
