"""Reports a practitioner would rather look at than read.

- :func:`build_report` (re)builds ``report.html`` from a run folder: curves, per-layer
  diagnostics, first-layer pictures, the test split, ranked findings, configuration.
- :func:`report_inputs` / :func:`write_report_inputs` save what a report needs from a
  fitted estimator into its run folder; :func:`save_run` writes a whole run folder and its
  report, through :func:`trainwell.report.runfolder.write_run`, the one writer of run
  folders (``trainwell fit`` calls it too).
- :class:`TensorBoardLogger` writes scalars and histograms for TensorBoard during training.
- :class:`MlflowLogger` records a fit as an MLflow run (the estimators' ``mlflow=``).

Matplotlib is imported only when a report is drawn.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the lazy names, for type checkers and the API reference
    from .html import build_report
    from .inputs import report_inputs, write_report_inputs
    from .mlflow_log import MlflowLogger
    from .runfolder import save_run
    from .tensorboard import TensorBoardLogger

__getattr__, __dir__ = lazy_exports(__name__, globals())

__all__ = ["MlflowLogger", "TensorBoardLogger", "build_report", "report_inputs", "save_run", "write_report_inputs"]
